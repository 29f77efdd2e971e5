"""Settings of the test project; DJ_SETTINGS (a JSON object) adds or
replaces settings, so each test states what it changes."""
import json
import os

SECRET_KEY = "taskwire-test-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["taskwire.contrib.django", "notes"]
MIDDLEWARE = []
ROOT_URLCONF = "djsite.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.environ.get("DJ_DB", ":memory:")}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

TASKWIRE_ENGINE = os.environ.get("TW_ENGINE")
TASKWIRE_CONTROL_SOCKET = os.environ.get("TW_SOCKET")
TASKWIRE_TASK_DEFAULT_QUEUE = os.environ.get("DJ_QUEUE", "pydj")
TASKWIRE_HTTP = os.environ.get("TW_METRICS")

globals().update(json.loads(os.environ.get("DJ_SETTINGS", "{}")))
