"""The publish-and-await loop both Python peers of `make perf-peers` time
(Celery's celery_bench.py and taskwire's taskwire_worker_bench.py): one
warm-up task, then N x task.delay() and every result awaited; prints one
JSON line: tasks, seconds, tasks_per_sec."""
import json
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
