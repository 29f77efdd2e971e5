"""`manage.py check` for the TASKWIRE_ settings: a setting the App does
not read (a typo) is named with the nearest real one, an engine address
that cannot be parsed is an error before any publish, a project without
an App is told how Celery projects make theirs."""
import difflib
import os

from django.conf import settings
from django.core.checks import Error, Warning  # noqa: A004 - Django's names

from . import NAMESPACE
from ...app import SETTINGS, _apps


def _engine_error(value):
    host, sep, port = str(value).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return "is %r: expected IP:PORT" % (value,)
    return None


def check_settings(app_configs=None, **_kwargs):
    found = []
    prefix = NAMESPACE + "_"
    known = {prefix + name.upper() for name in SETTINGS}
    for key in dir(settings):
        if key.startswith(prefix) and key.isupper() and key not in known:
            near = difflib.get_close_matches(key, sorted(known), n=1)
            found.append(Warning(
                "%s is not a taskwire setting (ignored)" % key,
                hint="did you mean %s?" % near[0] if near else
                "taskwire reads: %s" % ", ".join(sorted(known)),
                id="taskwire.W001"))
    engine = getattr(settings, prefix + "ENGINE", None)
    eager = getattr(settings, prefix + "TASK_ALWAYS_EAGER", False)
    if engine is not None:
        bad = _engine_error(engine)
        if bad:
            found.append(Error("%sENGINE %s" % (prefix, bad), id="taskwire.E001"))
    elif not os.environ.get("TW_ENGINE") and not eager:
        found.append(Warning(
            "no engine address: tasks cannot be published",
            hint="set %sENGINE = 'IP:PORT' (or $TW_ENGINE)" % prefix, id="taskwire.W002"))
    if not _apps:
        found.append(Warning(
            "no taskwire App in this process: tasks cannot be published or discovered",
            hint="make one in PROJECT/tasks_app.py with "
            "taskwire.contrib.django.project_app(...) and import it in PROJECT/__init__.py",
            id="taskwire.W003"))
    return found
