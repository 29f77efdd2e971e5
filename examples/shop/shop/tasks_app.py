"""The shop's taskwire app (Celery projects call this file celery.py). The
package's __init__ imports it, so the web processes publish through it;
the worker runs `python3 -m taskwire worker -A shop.tasks_app -Q shop`
(with DJANGO_SETTINGS_MODULE set, it sets Django up and then imports every
installed app's tasks module)."""
import os

from taskwire import App

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

app = App("shop")
app.config_from_object("django.conf:settings", namespace="TASKWIRE")
app.autodiscover_tasks()
