"""Task proxies: `add = client.task("add")` for a task the engine runs (a
built-in or a plugin's C task), or `@client.task` on a Python function of
the same name, so `add.delay(2, 3)` and `add.apply_async(...)` publish it
while `add(2, 3)` still calls the function locally (tasks run in the
engine, never in this process)."""
from .canvas import Signature
from . import options as opts


class Task:
    def __init__(self, client, name, fn=None, options=None):
        self.client = client
        self.name = name
        self.fn = fn
        self.options = dict(options or {})
        opts.check(self.options)
        if fn is not None:
            self.__doc__ = fn.__doc__
            self.__wrapped__ = fn

    def __repr__(self):
        return "<taskwire task %s>" % self.name

    def __call__(self, *args, **kwargs):
        if self.fn is None:
            raise TypeError("task %r runs in the engine; publish it with .delay() or "
                            ".apply_async()" % self.name)
        return self.fn(*args, **kwargs)

    def delay(self, *args, **kwargs):
        return self.apply_async(args, kwargs)

    def apply_async(self, args=None, kwargs=None, **options):
        """Publish with Celery's options: countdown, eta, expires, priority,
        queue, exchange, routing_key, headers, ignore_result, result_expires,
        max_retries (+ retry_*), serializer, task_id, link, link_error."""
        return self.client.publish(self.name, args or (), kwargs, **{**self.options, **options})

    def s(self, *args, **kwargs):
        """A signature (for chain, group, chord, link)."""
        return Signature(self.name, args, kwargs, self.options, client=self.client)

    signature = s

    def si(self, *args, **kwargs):
        """An immutable signature: a parent's result is not prepended."""
        return Signature(self.name, args, kwargs, self.options, immutable=True,
                         client=self.client)

    def AsyncResult(self, task_id):  # noqa: N802 - Celery's name
        return self.client.AsyncResult(task_id)
