"""The Django project of test_contrib_django: as a Celery project, it loads
its tasks app with the project."""
from .tasks_app import app as taskwire_app

__all__ = ["taskwire_app"]
