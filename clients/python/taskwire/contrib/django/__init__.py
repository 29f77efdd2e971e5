"""taskwire in a Django project: what Celery's Django integration gives,
in one place.

    # settings.py
    INSTALLED_APPS = [..., "taskwire.contrib.django"]
    TASKWIRE_ENGINE = "10.77.0.1:5555"       # Celery's names, TASKWIRE_ instead of CELERY_
    TASKWIRE_TASK_DEFAULT_QUEUE = "default"
    TASKWIRE_HTTP = "10.77.0.1:9100"          # tw-control's HTTP side: pages following tasks

    # proj/tasks_app.py (Celery projects call it celery.py), imported by proj/__init__.py
    from taskwire.contrib.django import project_app
    app = project_app("proj", "proj.settings")

    # urls.py
    from taskwire.contrib.django import views as taskwire_views
    path("tasks/<str:task_id>/", taskwire_views.task_status)

The app config ("taskwire.contrib.django" in INSTALLED_APPS) imports
every installed app's tasks module once Django's registry is ready (so
web processes know the tasks that workers run, as a worker does after
django.setup()) and adds `manage.py check` checks of the TASKWIRE_
settings (a misspelt name is named, not silently ignored). Tasks publish
after the transaction commits with `task.delay_on_commit(...)`; a view
reads a task's state with task_state() or serves it with
views.task_status; a page follows a task live with follow_data() (or
follow_url()).
The Channels layer is taskwire.contrib.channels.TaskwireChannelLayer.
"""
import os

from ... import progress
from ...app import App, _apps
from ...errors import ControlError

NAMESPACE = "TASKWIRE"
DEFAULT_VIEW_TOKEN_TTL_S = 3600

_project = []       # the App made by project_app(), the one views use


def project_app(main, settings_module=None, namespace=NAMESPACE):
    """The project's App, as a Celery project's celery.py makes it: its
    settings are Django's NAMESPACE_ settings, its tasks every installed
    app's tasks module (imported once Django is set up). settings_module
    becomes DJANGO_SETTINGS_MODULE unless that is set already."""
    if settings_module:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    app = App(main)
    app.config_from_object("django.conf:settings", namespace=namespace)
    app.autodiscover_tasks()
    _project.append(app)
    return app


def current_app():
    """The App views publish and read results through: project_app()'s,
    else the only App of the process."""
    if _project:
        return _project[-1]
    if len(_apps) == 1:
        return _apps[0]
    from django.core.exceptions import ImproperlyConfigured
    raise ImproperlyConfigured(
        "taskwire: %d taskwire.App objects and none made by project_app(): make the "
        "project's app with taskwire.contrib.django.project_app()" % len(_apps))


def task_state(task_id, app=None):
    """What a view answers about a task, JSON-ready, from one reading:
    {"task": ID, "state": STATE} plus "result" (SUCCESS), "progress" (the
    task's update_state meta while PROGRESS), "error" (FAILURE, REVOKED,
    EXPIRED: the message, with the remote traceback of a Python task), or
    "reason" (REJECTED). Raises ValueError for a malformed id and
    taskwire.ControlError when the result store cannot be read."""
    app = app or current_app()
    result = app.client.AsyncResult(task_id)
    snap = result._snapshot(strict=True)
    out = {"task": result.id, "state": snap.state}
    try:
        info = result._info(snap)
    except ValueError:
        # a result this client's serializer cannot read (a C task's raw
        # bytes, say): shown as text, not taken for a bad task id
        raw = snap.value
        info = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    key = {"SUCCESS": "result", "PROGRESS": "progress", "FAILURE": "error",
           "REVOKED": "error", "EXPIRED": "error", "REJECTED": "reason"}.get(snap.state)
    if key is not None and info is not None:
        out[key] = info
    return out


def _follow_settings(ttl):
    from django.conf import settings
    http = getattr(settings, NAMESPACE + "_HTTP", None)
    if ttl is None:
        ttl = getattr(settings, NAMESPACE + "_VIEW_TOKEN_TTL", DEFAULT_VIEW_TOKEN_TTL_S)
    return http, ttl


def follow_url(task, ttl=None, websocket=True):
    """tw-control's WebSocket (or event stream) URL for `task`, with a view
    token signed for it (settings as follow_data)."""
    http, ttl = _follow_settings(ttl)
    return progress.follow_url(task, http=http, ttl=ttl, websocket=websocket)


def follow_data(task, ttl=None, **extra):
    """What a page's <script> needs to follow `task` live on tw-control's
    WebSocket (a view token signed for that task alone): a JSON object
    literal, {"task": ID, "url": ...} plus extra. TASKWIRE_HTTP says
    where tw-control's HTTP side is; TASKWIRE_VIEW_TOKEN_TTL how long the
    token lasts. Raises ValueError when it cannot be made."""
    http, ttl = _follow_settings(ttl)
    return progress.page_script_data(task, http=http, ttl=ttl, **extra)


__all__ = ["project_app", "current_app", "task_state", "follow_data", "follow_url", "ControlError",
           "NAMESPACE"]
