"""A small Django shop whose order confirmation mails are sent by a
taskwire Python worker. As in a Celery project, the task app is loaded
with the project, so views publish through it."""
from .tasks_app import app as taskwire_app

__all__ = ["taskwire_app"]
