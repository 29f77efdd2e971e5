"""Celery side of `make perf-peers`: the same noop workload as taskwire's.

Worker:    python3 -m celery -A celery_bench worker --pool=solo ...
Publisher: python3 celery_bench.py publish|latency N [noop|sleep1ms]
Broker and result backend come from TW_PEER_BROKER and TW_PEER_BACKEND.
The publisher times N tasks with .delay() and every result awaited, or M
round trips one after another, and prints one JSON line (timed_publish.py).
Run with Debian's /usr/bin/python3 (python3-celery, python3-redis).
"""
import os
import time

from celery import Celery

from timed_publish import main

app = Celery("twbench",
             broker=os.environ.get("TW_PEER_BROKER", "redis://127.0.0.1:6390/0"),
             backend=os.environ.get("TW_PEER_BACKEND", "redis://127.0.0.1:6390/1"))
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                worker_prefetch_multiplier=128, task_acks_late=False,
                broker_connection_retry_on_startup=True)


@app.task(name="noop")
def noop():
    return None


@app.task(name="sleep1ms")
def sleep1ms():
    time.sleep(0.001)


if __name__ == "__main__":
    main({"noop": noop, "sleep1ms": sleep1ms}, "celery_bench.py")
