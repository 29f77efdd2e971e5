"""Settings of the example studio. Sizes and timings come from the
environment so a test can make the work small and quick."""
import os

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET_KEY = os.environ.get("STUDIO_SECRET_KEY", "example-studio-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["taskwire.contrib.django", "films"]
MIDDLEWARE = []
ROOT_URLCONF = "studio.urls"
DATABASES = {}
USE_TZ = True

# taskwire: the same names Celery takes with namespace="CELERY"
TASKWIRE_TASK_DEFAULT_QUEUE = "studio"
TASKWIRE_ENGINE = os.environ.get("TW_ENGINE")
# tw-control's HTTP side (HOST:PORT, as `make up` writes it), which a run's
# page follows live with a view token signed for that run
TASKWIRE_HTTP = os.environ.get("TW_METRICS")

# the work: how many scenes a script is cut into, how large a script and a
# shot are (bytes of text; results pass between steps through the engine),
# and how long one shot takes on the GPU host
STUDIO_SCENES = int(os.environ.get("STUDIO_SCENES", "6"))
# (the script, then its scenes, are the result a chain step passes to the
# next: a step the engine makes that does not fit one packet buffer goes in
# one of its large buffers)
STUDIO_SCRIPT_BYTES = int(os.environ.get("STUDIO_SCRIPT_BYTES", "6000"))
STUDIO_SHOT_BYTES = int(os.environ.get("STUDIO_SHOT_BYTES", "3000"))
STUDIO_SHOT_SECONDS = float(os.environ.get("STUDIO_SHOT_SECONDS", "0.3"))
