"""The studio's taskwire app (Celery projects call this file celery.py).
Workers: `python3 -m taskwire worker -A studio.tasks_app -Q studio` beside
the web processes, and `-Q gpu -c 1` on each GPU host (with
DJANGO_SETTINGS_MODULE set, the worker sets Django up and imports every
installed app's tasks module)."""
import os

from taskwire import App

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")

app = App("studio")
app.config_from_object("django.conf:settings", namespace="TASKWIRE")
app.autodiscover_tasks()
