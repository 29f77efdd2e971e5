"""Celery side of `make perf-peers`: the same noop workload as taskwire's.

Worker:    python3 -m celery -A celery_bench worker --pool=solo ...
Publisher: python3 celery_bench.py publish N
Broker and result backend come from TW_PEER_BROKER and TW_PEER_BACKEND.
The publisher sends N noop tasks with .delay(), then waits for every
result, and prints one JSON line: tasks, seconds, tasks_per_sec.
Run with Debian's /usr/bin/python3 (python3-celery, python3-redis).
"""
import os
import sys

from celery import Celery

from timed_publish import timed_publish

app = Celery("twbench",
             broker=os.environ.get("TW_PEER_BROKER", "redis://127.0.0.1:6390/0"),
             backend=os.environ.get("TW_PEER_BACKEND", "redis://127.0.0.1:6390/1"))
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                worker_prefetch_multiplier=128, task_acks_late=False,
                broker_connection_retry_on_startup=True)


@app.task(name="noop")
def noop():
    return None


def publish(n):
    timed_publish(noop, n)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "publish":
        sys.exit("usage: celery_bench.py publish N")
    publish(int(sys.argv[2]))
