"""Settings of the taskwire Django demo: one app, no database (the engine's
result store keeps the task states), development server only."""
import os

BASE_DIR = os.path.dirname(os.path.abspath(__file__))
SECRET_KEY = "taskwire-demo-not-secret"   # a local demo on loopback only
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["taskwire.contrib.django", "demo"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "demo.urls"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [],
              "APP_DIRS": True, "OPTIONS": {}}]
DATABASES = {}
USE_TZ = True

# Where the engine is (run.sh exports what deploy/lib.sh wrote to engine.env);
# Celery's setting names with TASKWIRE_ for CELERY_ (taskwire.contrib.django)
TASKWIRE_ENGINE = os.environ.get("TW_ENGINE", "10.77.0.1:5555")
TASKWIRE_CONTROL_SOCKET = os.environ.get("TW_SOCKET")
TASKWIRE_NETNS = os.environ.get("TW_NETNS")     # the UDP socket is opened in there
TASKWIRE_TASK_DEFAULT_QUEUE = os.environ.get("TW_DEMO_QUEUE", "demo")
# tw-control's HTTP address (engine.env's TW_METRICS): the page follows a
# job's events on its WebSocket, /ws?task=<group id>&view=<token>
TASKWIRE_HTTP = os.environ.get("TW_METRICS")
