"""The measures both sides of `make perf-async` share (taskwire's
taskwire_async_bench.py, Celery's celery_async_bench.py) for N tasks that
each wait 10 ms. Each task returns the wall-clock times (time.time(): one
machine, one clock) at which its run began and ended in the worker.

  burst N ROUNDS  the worker is up; N tasks published in one burst, every
                  result awaited; ROUNDS times. Wall time: from the first
                  publish to the last result back in the publishing
                  process (the median round is reported); a task's
                  latency: from just before its publish to its end in the
                  worker (broker or engine, prefetch, a free slot, the 10 ms).
  queued N        N tasks published while no worker runs (the shell starts
                  it once FLAG, the last argument, exists); then every
                  result awaited. The pool alone: its span, from the first
                  task's start to the last one's end in the worker (N x 10 ms
                  at concurrency 1; 10 ms and its overhead with N at once).

One JSON line: tasks, and for burst: rounds, seconds, tasks_per_sec,
publish_seconds, p50_ms, p99_ms, max_ms, walls; for queued: span_s,
tasks_per_sec, started_within_ms (the span of the N starts).
"""
import json
import os
import sys
import time

SLEEP_S = 0.010


def summary(rounds):
    """rounds: [(wall seconds, publish seconds, [latency seconds])]; the
    median round by wall time is reported (a shared machine's outliers
    are left out on both sides)."""
    ordered = sorted(rounds, key=lambda r: r[0])
    wall, publish, lat = ordered[len(ordered) // 2]
    lat = sorted(lat)

    def pct(p):
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1e3, 2)
    return {"tasks": len(lat), "rounds": len(rounds), "seconds": round(wall, 3),
            "tasks_per_sec": round(len(lat) / wall, 1), "publish_seconds": round(publish, 3),
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": round(lat[-1] * 1e3, 2),
            "walls": [round(r[0], 3) for r in rounds]}


def span(runs):
    """runs: [(start, end)] of every task, as the worker saw them."""
    starts, ends = [r[0] for r in runs], [r[1] for r in runs]
    s = max(ends) - min(starts)
    return {"tasks": len(runs), "span_s": round(s, 3), "tasks_per_sec": round(len(runs) / s, 1),
            "started_within_ms": round((max(starts) - min(starts)) * 1e3, 1)}


def parse_args(usage):
    """argv: burst N ROUNDS | queued N FLAG. @return (mode, n, rounds or flag)."""
    args = sys.argv[1:]
    if len(args) != 3 or args[0] not in ("burst", "queued") or not args[1].isdigit() or \
            (args[0] == "burst" and not args[2].isdigit()):
        sys.exit("usage: %s burst N ROUNDS | queued N FLAG" % usage)
    return args[0], int(args[1]), (max(1, int(args[2])) if args[0] == "burst" else args[2])


def published(flag):
    """Say (by creating FLAG) that the queued tasks are all published."""
    with open(flag + ".tmp", "w") as f:
        f.write("%f\n" % time.time())
    os.rename(flag + ".tmp", flag)


def report(d):
    print(json.dumps(d), flush=True)
