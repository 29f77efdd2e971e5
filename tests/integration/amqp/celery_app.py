"""The Celery app of amqp_celery_test.sh: unchanged Celery, its broker is
tw-amqp (AMQP_URL), its result backend a private redis-server (REDIS_URL)."""
import os
import time

from celery import Celery

app = Celery("celery_app", broker=os.environ["AMQP_URL"], backend=os.environ["REDIS_URL"])
app.conf.update(
    broker_connection_retry_on_startup=True,
    result_expires=600,
    worker_hijack_root_logger=False,
)


@app.task
def add(x, y):
    return x + y


@app.task
def tsum(values):
    return sum(values)


@app.task(bind=True, max_retries=3, default_retry_delay=0.2)
def flaky(self, path):
    """Fails on its first two runs (counted in a file), then succeeds."""
    with open(path, "a") as f:
        f.write("run\n")
    with open(path) as f:
        runs = len(f.readlines())
    if runs < 3:
        raise self.retry(exc=RuntimeError("not yet"))
    return runs


@app.task(acks_late=True)
def slow(path, seconds):
    """Writes that it started (and where), then takes its time: the test
    kills its worker with SIGKILL meanwhile."""
    with open(path, "a") as f:
        f.write("start %d\n" % os.getpid())
    time.sleep(seconds)
    return "slow done"
