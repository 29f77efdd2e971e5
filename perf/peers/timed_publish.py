"""The publish-and-await loops both Python peers time (Celery's
celery_bench.py and taskwire's taskwire_worker_bench.py), so the two
sides run the very same client code:

  throughput: one warm-up task, then N x task.delay() and every result
              awaited; one JSON line: tasks, seconds, tasks_per_sec.
  latency:    M round trips one after another (delay, then the result),
              each timed; one JSON line: tasks, p50_us, p99_us, max_us.
"""
import json
import sys
import time


def timed_publish(task, n):
    task.delay().get(timeout=60)  # warm-up: connections, queues, worker ready
    start = time.perf_counter()
    pending = [task.delay() for _ in range(n)]
    for r in pending:
        r.get(timeout=300)
    seconds = time.perf_counter() - start
    print(json.dumps({"tasks": n, "seconds": round(seconds, 3),
                      "tasks_per_sec": round(n / seconds, 1)}))


def timed_roundtrips(task, m):
    task.delay().get(timeout=60)
    took = []
    for _ in range(m):
        t0 = time.perf_counter()
        task.delay().get(timeout=60)
        took.append(time.perf_counter() - t0)
    took.sort()

    def pct(p):
        return round(took[min(len(took) - 1, int(p * len(took)))] * 1e6, 1)
    print(json.dumps({"tasks": m, "p50_us": pct(0.50), "p99_us": pct(0.99),
                      "max_us": round(took[-1] * 1e6, 1)}))


def main(tasks, usage):
    """argv: publish N [TASK] | latency M [TASK]; TASK names one of tasks."""
    args = sys.argv[1:]
    if len(args) not in (2, 3) or args[0] not in ("publish", "latency") or \
            (len(args) == 3 and args[2] not in tasks):
        sys.exit("usage: %s publish|latency N [%s]" % (usage, "|".join(sorted(tasks))))
    task = tasks[args[2] if len(args) == 3 else "noop"]
    (timed_publish if args[0] == "publish" else timed_roundtrips)(task, int(args[1]))
