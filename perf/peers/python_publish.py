"""One Python process publishing N noop tasks, for perf/python-vs-celery.sh.

    python_publish.py taskwire N [--batch]   taskwire.Client: N x noop.delay(),
                                             then wait until every one is confirmed
    python_publish.py celery N               Celery: N x noop.delay() to Redis
                                             (each returns once Redis has it)

Prints one JSON line: system, tasks, seconds, tasks_per_sec. A warm-up
publish comes first in both (connections, queues). Taskwire's engine
address and control socket come from TW_ENGINE / TW_SOCKET (run inside
the engine's namespace); Celery's broker and backend from TW_PEER_BROKER /
TW_PEER_BACKEND. Run with Debian's /usr/bin/python3.
"""
import json
import os
import sys
import time


def taskwire_rate(n, batch):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "..", "clients", "python"))
    import taskwire
    client = taskwire.Client(default_queue="bench")
    client.control.queue_declare("bench")
    noop = client.task("noop")
    noop.delay().get(timeout=10)
    start = time.perf_counter()
    if batch:
        with client.batch():
            for _ in range(n):
                noop.delay()
    else:
        for _ in range(n):
            noop.delay()
    if not client.wait_confirms(timeout=300):
        sys.exit("taskwire: not every task was confirmed in 300 s")
    seconds = time.perf_counter() - start
    stats = client.stats()
    client.close()
    return seconds, {"retransmits": stats.get("retransmits", 0),
                     "frames_sent": stats.get("frames_sent", 0)}


def celery_rate(n):
    from celery import Celery
    app = Celery("twpybench", broker=os.environ["TW_PEER_BROKER"],
                 backend=os.environ["TW_PEER_BACKEND"])
    app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                    broker_connection_retry_on_startup=True)

    @app.task(name="noop")
    def noop():
        return None

    noop.delay()
    start = time.perf_counter()
    for _ in range(n):
        noop.delay()
    return time.perf_counter() - start, {}


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("taskwire", "celery"):
        sys.exit("usage: python_publish.py taskwire|celery N [--batch]")
    n = int(sys.argv[2])
    if sys.argv[1] == "taskwire":
        seconds, extra = taskwire_rate(n, "--batch" in sys.argv[3:])
    else:
        seconds, extra = celery_rate(n)
    name = sys.argv[1] + (" batch" if "--batch" in sys.argv[3:] else "")
    print(json.dumps({"system": name, "tasks": n, "seconds": round(seconds, 3),
                      "tasks_per_sec": round(n / seconds, 1), **extra}))


if __name__ == "__main__":
    main()
