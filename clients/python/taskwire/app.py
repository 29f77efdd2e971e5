"""taskwire.App: Python task code, Celery's way.

    app = taskwire.App("myshop")
    app.config_from_object("django.conf:settings", namespace="TASKWIRE")

    @app.task(bind=True, max_retries=5, autoretry_for=(IOError,), retry_backoff=True)
    def send_mail(self, order_id):
        ...

    send_mail.delay(42)                       # published on the engine's wire
    python3 -m taskwire worker -A myshop -Q default   # runs the body (worker.py)

A task published by name runs wherever a consumer of its queue knows the
name: a Python worker of this app, a tw-worker with C plugins, or the
engine's own lcores. Task names default to Celery's: MODULE.FUNCTION.
"""
import contextvars
import importlib
import inspect
import os
import random
import threading

from . import canvas as cv
from . import current
from . import options as opts
from .errors import TaskwireError

# Celery's defaults for these options
DEFAULT_MAX_RETRIES = 3
DEFAULT_RETRY_DELAY_S = 180
DEFAULT_BACKOFF_MAX_S = 600


class Retry(TaskwireError):
    """Raised by Task.retry(): the worker acks RETRY (run again later)."""

    def __init__(self, exc=None, countdown=None, max_retries=None):
        self.exc = exc
        self.countdown = countdown
        self.max_retries = max_retries
        super().__init__("retry in %ss%s" % (countdown, ": %r" % exc if exc else ""))


class MaxRetriesExceededError(TaskwireError):
    """A task asked to retry past its max_retries (and gave no exception)."""


class SoftTimeLimitExceeded(TaskwireError):
    """Raised inside a task that ran past its soft_time_limit."""


class Context:
    """self.request: what the worker knows about the running delivery."""

    def __init__(self, **kw):
        self.id = None
        self.args = ()
        self.kwargs = {}
        self.retries = 0
        self.delivery_info = {}
        self.root_id = None
        self.parent_id = None
        self.eta = None
        self.hostname = None
        self.delivery_count = 1
        self.is_eager = False
        self.progress = None        # callable(meta): the worker's PROGRESS ack
        self.__dict__.update(kw)


class _Sent:
    """An awaitable that is already done: update_state sends at once (a
    datagram), in sync and async tasks alike."""

    def __await__(self):
        yield from ()


class Config(dict):
    """app.conf: Celery's lower-case setting names, as attributes too."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value


class EagerResult:
    """What apply() (and delay() in eager mode) returns: the outcome now."""

    def __init__(self, task_id, value=None, exc=None, state="SUCCESS"):
        self.id = "%016x" % task_id
        self.task_id = task_id
        self.result = value if exc is None else exc
        self.state = state
        self._exc = exc

    def get(self, timeout=None, propagate=True):
        if self._exc is not None and propagate:
            raise self._exc
        return self.result

    def ready(self):
        return self.state != "PENDING"

    def successful(self):
        return self.state == "SUCCESS"


_shared = []        # @shared_task functions, bound to every App made
_apps = []


def shared_task(*args, **options):
    """A task not tied to one App (for reusable Django apps): every App,
    made before or after, gets it."""
    def decorate(fn):
        _shared.append((fn, options))
        tasks = [a._make_task(fn, options) for a in _apps]
        return tasks[-1] if tasks else _Unbound(fn, options)
    if len(args) == 1 and callable(args[0]) and not options:
        return decorate(args[0])
    return decorate


class _Unbound:
    """A @shared_task seen before any App exists: it resolves on first use."""

    def __init__(self, fn, options):
        self.fn, self.options = fn, options
        self.__wrapped__ = fn

    def _task(self):
        if not _apps:
            App("default")      # as Celery's default app: settings from the environment
        return _apps[-1].tasks[task_name(self.fn, self.options)]

    def __getattr__(self, name):
        return getattr(self._task(), name)

    def __call__(self, *args, **kwargs):
        return self._task()(*args, **kwargs)


def _django_ready():
    try:
        from django.apps import apps
    except ImportError:
        return False
    return apps.ready


def task_name(fn, options):
    return options.get("name") or "%s.%s" % (fn.__module__, fn.__name__)


class Task:
    """A Python task: call it to run the body here; delay()/apply_async()
    to publish it; s()/si() for workflows."""

    def __init__(self, app, fn, options):
        options = dict(options)
        self.app = app
        self.fn = fn
        self.name = task_name(fn, options)
        options.pop("name", None)
        self.bind = options.pop("bind", False)
        self.max_retries = options.pop("max_retries", DEFAULT_MAX_RETRIES)
        self.default_retry_delay = options.pop("default_retry_delay", DEFAULT_RETRY_DELAY_S)
        self.autoretry_for = tuple(options.pop("autoretry_for", ()))
        self.retry_backoff = options.pop("retry_backoff", False)
        self.retry_backoff_max = options.pop("retry_backoff_max", DEFAULT_BACKOFF_MAX_S)
        self.retry_jitter = options.pop("retry_jitter", True)
        self.soft_time_limit = options.pop("soft_time_limit", None)
        self.time_limit = options.pop("time_limit", None)
        self.acks_late = options.pop("acks_late", True)
        self.rate_limit = options.pop("rate_limit", None)
        self.ignore_result = options.get("ignore_result", False)
        # what is left are publishing options (queue, priority, expires, ...)
        opts.check(options)
        self.options = options
        # the running delivery: a context variable, so threads and asyncio
        # tasks running this task at once each see their own
        self._request = contextvars.ContextVar("taskwire_request_" + self.name, default=None)
        self.is_coroutine = inspect.iscoroutinefunction(fn)
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        self.__name__ = fn.__name__

    def __repr__(self):
        return "<@task: %s of %s>" % (self.name, self.app.main)

    # -- running -------------------------------------------------------------

    @property
    def request(self):
        r = self._request.get()
        if r is None:
            r = Context(is_eager=True)
            self._request.set(r)
        return r

    def push_request(self, request):
        self._request.set(request)
        current.request.set(request)

    def pop_request(self):
        self._request.set(None)
        current.request.set(None)

    def run(self, *args, **kwargs):
        if self.bind:
            return self.fn(self, *args, **kwargs)
        return self.fn(*args, **kwargs)

    __call__ = run

    def retry(self, exc=None, countdown=None, max_retries=None, **_ignored):
        """Ask for another run later; raises Retry (or, past max_retries, exc
        or MaxRetriesExceededError), so `raise self.retry(...)` reads well."""
        limit = self.max_retries if max_retries is None else max_retries
        if limit is not None and self.request.retries >= limit:
            if exc is not None:
                raise exc
            raise MaxRetriesExceededError("%s[%s]: max retries (%d) exceeded"
                                          % (self.name, self.request.id, limit))
        if countdown is None:
            countdown = self.default_retry_delay
        raise Retry(exc, countdown, limit)

    def backoff_countdown(self, retries):
        """Celery's autoretry backoff: base * 2^retries, capped, full jitter."""
        base = 1 if self.retry_backoff is True else float(self.retry_backoff)
        delay = min(float(self.retry_backoff_max), base * (2 ** retries))
        if self.retry_jitter:
            delay = random.uniform(0, delay)
        return delay

    def update_state(self, task_id=None, state="PROGRESS", meta=None):
        """Report progress of the running task: the engine records it (store,
        events, browser) and extends the delivery's lease."""
        progress = self.request.progress
        if state != "PROGRESS":
            raise ValueError("update_state: only state='PROGRESS' is reported mid-run")
        if progress is not None:    # None: eager, or outside a worker: nothing to tell
            progress(meta)
        return _Sent()          # `await self.update_state(...)` reads well in async tasks

    # -- publishing ------------------------------------------------------------

    def delay(self, *args, **kwargs):
        return self.apply_async(args, kwargs)

    def apply_async(self, args=None, kwargs=None, **options):
        if self.app.conf.get("task_always_eager"):
            return self.apply(args, kwargs)
        return self.app.client.publish(self.name, args or (), kwargs,
                                       **{**self.options, **options})

    def delay_on_commit(self, *args, **kwargs):
        """Django: publish once the current database transaction commits
        (at once outside one), so a worker never looks for a row that is
        not there yet. @return the AsyncResult of the task to be: its id is
        chosen now, the publish happens at commit (nothing on rollback)."""
        return self.apply_async_on_commit(args, kwargs)

    def apply_async_on_commit(self, args=None, kwargs=None, using=None, **options):
        """apply_async() once the transaction of database `using` commits
        (see delay_on_commit). In eager mode the body runs at commit and
        the returned EagerResult is PENDING until then."""
        from django.db import transaction   # only here: Django is optional
        if self.app.conf.get("task_always_eager"):
            pending = EagerResult(self.app.client_id(), state="PENDING")

            def run_now():
                done = self.apply(args, kwargs, task_id=pending.task_id)
                pending.__dict__.update(done.__dict__)
            transaction.on_commit(run_now, using=using)
            return pending
        task_id = self.app.client.new_id()
        transaction.on_commit(lambda: self.apply_async(args, kwargs, task_id=task_id,
                                                       **options), using=using)
        return self.app.client.AsyncResult(task_id)

    def apply(self, args=None, kwargs=None, task_id=None, **_options):
        """Run now, here, as an eager task (Celery's apply()); retries run
        at once, up to max_retries."""
        args, kwargs = tuple(args or ()), dict(kwargs or {})
        tid = task_id or self.app.client_id()
        retries = 0
        while True:
            self.push_request(Context(id="%016x" % tid, args=args, kwargs=kwargs,
                                      retries=retries, is_eager=True))
            try:
                value = self.run(*args, **kwargs)
                if self.is_coroutine:
                    import asyncio
                    value = asyncio.run(value)
                return EagerResult(tid, value)
            except Retry:
                retries += 1
            except self.autoretry_for as e:
                if retries >= (self.max_retries or 0):
                    return self._eager_failure(tid, e)
                retries += 1
            except Exception as e:  # noqa: BLE001 - the task's outcome
                return self._eager_failure(tid, e)
            finally:
                self.pop_request()

    def _eager_failure(self, tid, exc):
        if self.app.conf.get("task_eager_propagates"):
            raise exc
        return EagerResult(tid, exc=exc, state="FAILURE")

    def s(self, *args, **kwargs):
        return cv.Signature(self.name, args, kwargs, self.options, client=self.app.client)

    signature = s

    def si(self, *args, **kwargs):
        return cv.Signature(self.name, args, kwargs, self.options, immutable=True,
                            client=self.app.client)

    def AsyncResult(self, task_id):  # noqa: N802 - Celery's name
        return self.app.client.AsyncResult(task_id)


# The settings an App reads (app.conf names; Django: TASKWIRE_ + upper
# case), so a misspelt one can be named instead of silently ignored.
SETTINGS = {
    "engine": "the engine's IP:PORT (default $TW_ENGINE)",
    "control_socket": "tw-control's socket: results, revokes (default $TW_SOCKET)",
    "netns": "an `ip netns` to open the UDP socket in (default $TW_CLIENT_NETNS)",
    "key_file": "keys file for signed frames (default $TW_KEY_FILE)",
    "key_id": "the key of key_file to sign with (default $TW_KEY_ID)",
    "task_serializer": "json (default), raw, or a registered serializer",
    "task_default_queue": "the queue of tasks published without one",
    "task_always_eager": "run task bodies in the caller (tests)",
    "task_eager_propagates": "eager runs raise the task's exception",
    "http": "tw-control's HTTP side HOST:PORT, for pages following tasks ($TW_METRICS)",
    "view_token_ttl": "seconds a page may follow a task with its view token (3600)",
}
# app.conf names handed to the Client, by its parameter names
_CLIENT_SETTINGS = {"netns": "netns", "key_file": "key_file", "key_id": "key_id",
                    "task_serializer": "serializer"}


class App:
    """Tasks, settings and the engine connection of one Python project."""

    def __init__(self, main=None, engine=None, control_socket=None, **client_options):
        self.main = main or "__main__"
        self.conf = Config(task_default_queue="celery", task_always_eager=False,
                           task_eager_propagates=False)
        if engine:
            self.conf["engine"] = engine
        if control_socket:
            self.conf["control_socket"] = control_socket
        self._client_options = client_options
        self._client = None
        self._lock = threading.Lock()
        self.tasks = {}
        self._discover = []
        _apps.append(self)
        for fn, options in _shared:
            self._make_task(fn, options)

    def __repr__(self):
        return "<taskwire.App %s>" % self.main

    # -- settings ----------------------------------------------------------------

    def config_from_object(self, obj, namespace=None):
        """Settings from an object or "module:attribute" (Django:
        "django.conf:settings"); with a namespace, only NAMESPACE_NAME
        settings, taken as name (TASKWIRE_TASK_ALWAYS_EAGER ->
        task_always_eager)."""
        if isinstance(obj, str):
            mod, _, attr = obj.partition(":")
            obj = importlib.import_module(mod)
            if attr:
                obj = getattr(obj, attr)
        prefix = namespace + "_" if namespace else ""
        for key in dir(obj):
            if not key.isupper() or not key.startswith(prefix):
                continue
            self.conf[key[len(prefix):].lower()] = getattr(obj, key)

    def autodiscover_tasks(self, packages=None, related_name="tasks", force=False):
        """Import PACKAGE.tasks for each package (default: Django's
        INSTALLED_APPS), so their @shared_task and @app.task register.
        Without packages it waits for Django's app registry (as a project's
        tasks_app module is imported while Django starts): finalize() runs
        it, and the worker calls finalize() after django.setup()."""
        self._discover.append((packages, related_name))
        if force or packages is not None or _django_ready():
            self.finalize()

    def finalize(self):
        """Run the task discoveries asked for so far."""
        pending, self._discover = self._discover, []
        for packages, related_name in pending:
            self._import_tasks(packages, related_name)

    def _import_tasks(self, packages, related_name):
        if packages is None:
            from django.conf import settings  # only here: Django is optional
            packages = list(settings.INSTALLED_APPS)
        for pkg in packages:
            try:
                importlib.import_module("%s.%s" % (pkg, related_name))
            except ModuleNotFoundError as e:
                if e.name != "%s.%s" % (pkg, related_name):
                    raise       # the tasks module exists but its own import failed

    # -- tasks --------------------------------------------------------------------

    def task(self, *args, **options):
        """@app.task or @app.task(name=..., bind=True, max_retries=..., queue=...)."""
        def decorate(fn):
            return self._make_task(fn, options)
        if len(args) == 1 and callable(args[0]) and not options:
            return decorate(args[0])
        return decorate

    def _make_task(self, fn, options):
        t = Task(self, fn, options)
        self.tasks[t.name] = t
        return t

    # -- the engine ------------------------------------------------------------------

    def engine_address(self):
        return self.conf.get("engine") or os.environ.get("TW_ENGINE")

    @property
    def client(self):
        """The publishing client (made on first use)."""
        with self._lock:
            if self._client is None:
                from .client import Client
                options = {param: self.conf[name] for name, param in _CLIENT_SETTINGS.items()
                           if self.conf.get(name) is not None}
                options.update(self._client_options)
                self._client = Client(engine=self.engine_address(),
                                      control_socket=self.conf.get("control_socket"),
                                      default_queue=self.conf.get("task_default_queue"),
                                      **options)
            return self._client

    def client_id(self):
        """A fresh task id (eager runs need one without an engine)."""
        return random.getrandbits(63) | 1

    def send_task(self, name, args=(), kwargs=None, **options):
        return self.client.publish(name, args, kwargs, **options)

    def close(self):
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
