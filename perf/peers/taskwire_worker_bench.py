"""taskwire's side of the Celery rows in `make perf-peers`: the same noop
task, in a Python worker (python3 -m taskwire worker -A taskwire_worker_bench
-P solo), published from one Python process as celery_bench.py does: N x
noop.delay(), then every result awaited.

Worker:    python3 -m taskwire worker -A taskwire_worker_bench -Q pybench -P solo
Publisher: python3 taskwire_worker_bench.py publish N
Prints one JSON line: tasks, seconds, tasks_per_sec. Run with Debian's
/usr/bin/python3, TW_ENGINE and TW_SOCKET set, inside the engine's namespace.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "clients", "python"))
import taskwire  # noqa: E402

app = taskwire.App("twbench")
app.conf.task_default_queue = "pybench"


@app.task(name="noop")
def noop():
    return None


def publish(n):
    noop.delay().get(timeout=60)  # warm-up: the worker is subscribed and answering
    start = time.perf_counter()
    pending = [noop.delay() for _ in range(n)]
    for r in pending:
        r.get(timeout=300)
    seconds = time.perf_counter() - start
    print(json.dumps({"tasks": n, "seconds": round(seconds, 3),
                      "tasks_per_sec": round(n / seconds, 1)}))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "publish":
        sys.exit("usage: taskwire_worker_bench.py publish N")
    publish(int(sys.argv[2]))
