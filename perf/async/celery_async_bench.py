"""Celery's side of `make perf-async`: the same 10 ms wait, as Celery
writes it (a plain task: Celery runs no coroutines), on the pool given to
the worker: gevent or eventlet (time.sleep patched: the wait yields to
the pool's other greenlets), threads (the wait releases the GIL), or
prefork; every result awaited with join_native (the Redis backend's own
way of waiting for many). burst.py says what is measured.

Worker:    python3 -m celery -A celery_async_bench worker --pool=gevent --concurrency=1000
Publisher: python3 celery_async_bench.py burst N ROUNDS | queued N FLAG
Broker and result backend come from TW_PEER_BROKER and TW_PEER_BACKEND.
Prints one JSON line. Run with Debian's /usr/bin/python3.
"""
import os
import time

from celery import Celery
from celery.result import ResultSet

from burst import SLEEP_S, parse_args, published, report, span, summary

app = Celery("twasync",
             broker=os.environ.get("TW_PEER_BROKER", "redis://127.0.0.1:6392/0"),
             backend=os.environ.get("TW_PEER_BACKEND", "redis://127.0.0.1:6392/1"))
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                worker_prefetch_multiplier=1, task_acks_late=False,
                broker_connection_retry_on_startup=True)


@app.task(name="sleep10ms")
def sleep10ms():
    start = time.time()
    time.sleep(SLEEP_S)
    return [start, time.time()]


def burst(n):
    start = time.perf_counter()
    sent, results = [], []
    for _ in range(n):
        sent.append(time.time())
        results.append(sleep10ms.delay())
    publish = time.perf_counter() - start
    runs = ResultSet(results).join_native(timeout=300)
    wall = time.perf_counter() - start
    for r in results:
        r.forget()
    return wall, publish, [r[1] - s for r, s in zip(runs, sent)]


def main():
    mode, n, arg = parse_args("celery_async_bench.py")
    if mode == "queued":
        results = [sleep10ms.delay() for _ in range(n)]
        published(arg)
        report(span(ResultSet(results).join_native(timeout=300)))
        return
    sleep10ms.delay().get(timeout=60)       # warm-up: connections, the worker is there
    runs = []
    for _ in range(arg):
        runs.append(burst(n))
        time.sleep(0.5)
    report(summary(runs))


if __name__ == "__main__":
    main()
