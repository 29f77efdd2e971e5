"""As in a Celery project, the task app is loaded with the project."""
from .taskwire_app import app as taskwire_app

__all__ = ["taskwire_app"]
