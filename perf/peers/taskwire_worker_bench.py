"""taskwire's side of the Celery rows in `make perf-peers`: the same noop
task, in a Python worker (python3 -m taskwire worker -A taskwire_worker_bench
-P solo), published from one Python process as celery_bench.py does: N x
noop.delay(), then every result awaited.

Worker:    python3 -m taskwire worker -A taskwire_worker_bench -Q pybench -P solo
Publisher: python3 taskwire_worker_bench.py publish N
Prints one JSON line: tasks, seconds, tasks_per_sec. Run with Debian's
/usr/bin/python3, TW_ENGINE and TW_SOCKET set, inside the engine's namespace.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "clients", "python"))
import taskwire  # noqa: E402
from timed_publish import timed_publish  # noqa: E402

app = taskwire.App("twbench")
app.conf.task_default_queue = "pybench"


@app.task(name="noop")
def noop():
    return None


def publish(n):
    timed_publish(noop, n)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "publish":
        sys.exit("usage: taskwire_worker_bench.py publish N")
    publish(int(sys.argv[2]))
