"""A Django project that turns an idea into a film: a script, its scenes,
and one shot per scene rendered on a GPU host, followed live in the
browser. As in a Celery project, the task app is loaded with the project,
so views publish through it."""
from .tasks_app import app as taskwire_app

__all__ = ["taskwire_app"]
