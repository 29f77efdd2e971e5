"""The Django app "taskwire.contrib.django" (label "taskwire")."""
from django.apps import AppConfig
from django.core import checks


class TaskwireConfig(AppConfig):
    name = "taskwire.contrib.django"
    label = "taskwire"
    verbose_name = "taskwire"

    def ready(self):
        from ...app import _apps
        from . import checks as taskwire_checks
        # every installed app's models are loaded now: their tasks
        # modules can be imported in every process, not only in workers
        for app in list(_apps):
            app.finalize()
        checks.register(taskwire_checks.check_settings, "taskwire")
