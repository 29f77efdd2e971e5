"""The shop's taskwire app (Celery projects call this file celery.py). The
package's __init__ imports it, so the web processes publish through it;
the worker runs `python3 -m taskwire worker -A shop.tasks_app -Q shop`
(with DJANGO_SETTINGS_MODULE set, it sets Django up and then imports every
installed app's tasks module). project_app: settings from Django's
TASKWIRE_ names, tasks from every installed app's tasks module."""
from taskwire.contrib.django import project_app

app = project_app("shop", "shop.settings")
