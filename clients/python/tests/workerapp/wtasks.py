"""Tasks for test_worker.py: run by `python3 -m taskwire worker -A wtasks`."""
import os
import threading
import time

import taskwire

app = taskwire.App("wtasks")
app.conf.task_default_queue = os.environ.get("TW_TEST_QUEUE", "pywork")


@app.task(name="py.add")
def add(x, y):
    return x + y


@app.task(name="py.flaky", bind=True, max_retries=5)
def flaky(self, until):
    if self.request.retries < until:
        raise self.retry(countdown=0.05)
    return {"retries": self.request.retries, "id": self.request.id}


@app.task(name="py.autoretry", bind=True, autoretry_for=(IOError,), max_retries=2,
          retry_backoff=True, retry_backoff_max=0.05)
def autoretry(self):
    raise IOError("mail server down (try %d)" % self.request.retries)


@app.task(name="py.fail")
def fail():
    raise ValueError("boom")


@app.task(name="py.progress", bind=True)
def progress(self, steps):
    for i in range(steps):
        self.update_state(state="PROGRESS", meta={"done": i + 1, "of": steps})
    return steps


@app.task(name="py.slow", bind=True)
def slow(self, seconds, marker):
    with open(marker, "a") as f:
        f.write("%d %d\n" % (os.getpid(), self.request.delivery_count))
    time.sleep(seconds)
    return {"delivery_count": self.request.delivery_count, "pid": os.getpid()}


@app.task(name="py.unserializable")
def unserializable():
    return object()


class Unprintable(Exception):
    """Neither str(), repr() nor pickle can handle it."""

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()        # pickle refuses a lock

    def __str__(self):
        raise RuntimeError("str() of this exception fails")

    def __repr__(self):
        raise RuntimeError("repr() of this exception fails")


@app.task(name="py.unprintable")
def unprintable():
    raise Unprintable()


@app.task(name="py.soft", soft_time_limit=0.2)
def soft():
    try:
        time.sleep(5)
    except taskwire.SoftTimeLimitExceeded:
        return "stopped by the soft limit"
    return "slept"


@app.task(name="py.hang", time_limit=0.5)
def hang():
    time.sleep(60)
    return "never"


@app.task(name="py.crash", bind=True)
def crash(self, marker):
    """Takes its process down on the first delivery, succeeds on the next."""
    if self.request.delivery_count == 1:
        os._exit(3)
    return {"delivery_count": self.request.delivery_count, "pid": os.getpid()}


@app.task(name="py.pid")
def pid():
    return os.getpid()


@app.task(name="py.limited", rate_limit="10/s")
def limited():
    return time.monotonic()


@app.task(name="py.asleep", bind=True)
async def asleep(self, seconds):
    await self.update_state(state="PROGRESS", meta={"sleeping": seconds})
    await __import__("asyncio").sleep(seconds)
    return self.request.id


@app.task(name="py.asoft", soft_time_limit=0.3)
async def asoft():
    await __import__("asyncio").sleep(10)
    return "slept"


@app.task(name="py.spin", bind=True, time_limit=1)
async def spin(self):
    """Holds its event loop on its first delivery (never awaits: only the
    watchdog can end it); on a redelivery it returns at once."""
    if self.request.delivery_count == 1:
        while True:
            pass
    return {"delivery_count": self.request.delivery_count, "pid": os.getpid()}


@app.task(name="py.echo")
def echo(text):
    """Its argument back: large args in, a result as large out (fragments)."""
    return text


@app.task(name="py.report")
def report(n):
    """A result of about n bytes, from a few bytes of args."""
    line = "row %06d: " + "x" * 50 + "\n"
    return "".join(line % i for i in range(n // 62 + 1))[:n]
