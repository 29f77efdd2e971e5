"""taskwire's side of the Celery rows in `make perf-peers`: the same noop
task, in a Python worker (python3 -m taskwire worker -A taskwire_worker_bench
-P solo), published from one Python process as celery_bench.py does: N x
noop.delay(), then every result awaited.

Worker:    python3 -m taskwire worker -A taskwire_worker_bench -Q pybench -P solo
Publisher: python3 taskwire_worker_bench.py publish|latency N [noop|sleep1ms]
Prints one JSON line (see timed_publish.py). Run with Debian's
/usr/bin/python3, TW_ENGINE and TW_SOCKET set, inside the engine's namespace.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "clients", "python"))
import taskwire  # noqa: E402
from timed_publish import main  # noqa: E402

app = taskwire.App("twbench")
app.conf.task_default_queue = "pybench"


@app.task(name="noop")
def noop():
    return None


@app.task(name="sleep1ms")
def sleep1ms():
    time.sleep(0.001)


if __name__ == "__main__":
    main({"noop": noop, "sleep1ms": sleep1ms}, "taskwire_worker_bench.py")
