"""Celery's apply_async options turned into Task fields (proto/taskwire.proto).

Times become absolute unix milliseconds here, on the publisher's clock, as
libtaskwire and Celery do: countdown and expires-in-seconds are relative to
the moment of publishing, eta and expires may be datetimes or unix seconds.
Retry options use twctl's names (--max-retries, --retry-countdown, ...).
"""
import datetime
import time

from ._proto import wire

# every option a caller may pass (apply_async, Signature.set), checked so a
# typo is an error rather than silently ignored
KNOWN = frozenset((
    "queue", "exchange", "routing_key", "priority", "countdown", "eta", "expires", "headers",
    "ignore_result", "result_expires", "max_retries", "retry_countdown", "retry_backoff",
    "retry_backoff_max", "retry_jitter", "autoretry", "serializer", "task_id", "link",
    "link_error",
))


def check(options):
    unknown = set(options) - KNOWN
    if unknown:
        raise TypeError("unknown task option(s): %s (known: %s)"
                        % (", ".join(sorted(unknown)), ", ".join(sorted(KNOWN))))


def now_ms():
    return int(time.time() * 1000)


def _unix_ms(when, what):
    if isinstance(when, datetime.datetime):
        return int(when.timestamp() * 1000)   # naive: local time, as datetime does
    if isinstance(when, (int, float)):
        return int(when * 1000)
    raise TypeError("%s must be a datetime or unix seconds, not %r" % (what, when))


def parse_task_id(task_id):
    """A task id given as an int or as twctl's 16 hex digits."""
    if isinstance(task_id, str):
        task_id = int(task_id, 16)
    if not 0 < task_id < 1 << 64:
        raise ValueError("task id must be a non-zero 64-bit number, not %r" % task_id)
    return task_id


def apply(task, options, now, default_queue):
    """Set task's routing and Celery fields from options (already checked)."""
    if "exchange" in options or "routing_key" in options:
        task.exchange = options.get("exchange") or ""
        task.routing_key = options.get("routing_key") or options.get("queue") or ""
    else:
        # the default exchange routes by queue name, as in AMQP
        task.routing_key = options.get("queue") or default_queue or ""
    if options.get("priority"):
        task.priority = int(options["priority"])
    if options.get("eta") is not None:
        task.eta_ms = _unix_ms(options["eta"], "eta")
    elif options.get("countdown"):
        if options["countdown"] < 0:
            raise ValueError("countdown must be >= 0 seconds, not %r" % options["countdown"])
        task.eta_ms = now + int(options["countdown"] * 1000)
    expires = options.get("expires")
    if expires is not None:
        if isinstance(expires, datetime.datetime):
            task.expires_ms = _unix_ms(expires, "expires")
        else:
            task.expires_ms = now + int(expires * 1000)
    for k, v in (options.get("headers") or {}).items():
        task.headers.add(key=str(k), value=str(v))
    if options.get("ignore_result"):
        task.ignore_result = True
    if options.get("result_expires"):
        task.result_expires_s = int(options["result_expires"])
    if options.get("max_retries") is not None:
        task.retry.CopyFrom(wire.RetryPolicy(
            max_retries=int(options["max_retries"]),
            countdown_ms=int(options.get("retry_countdown", 0) * 1000),
            backoff=bool(options.get("retry_backoff", False)),
            backoff_max_ms=int(options.get("retry_backoff_max", 0) * 1000),
            jitter=bool(options.get("retry_jitter", False)),
            autoretry=bool(options.get("autoretry", False))))
    elif any(k in options for k in ("retry_countdown", "retry_backoff", "retry_backoff_max",
                                     "retry_jitter", "autoretry")):
        raise ValueError("retry options need max_retries (as twctl's --max-retries)")
