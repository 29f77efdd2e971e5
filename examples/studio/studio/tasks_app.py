"""The studio's taskwire app (Celery projects call this file celery.py).
Workers: `python3 -m taskwire worker -A studio.tasks_app -Q studio` beside
the web processes, and `-Q gpu -c 1` on each GPU host (with
DJANGO_SETTINGS_MODULE set, the worker sets Django up and imports every
installed app's tasks module). project_app: settings from Django's
TASKWIRE_ names, tasks from every installed app's tasks module."""
from taskwire.contrib.django import project_app

app = project_app("studio", "studio.settings")
