"""taskwire's side of `make perf-async`: an `async def` task that awaits a
10 ms sleep, run by one asyncio worker process; published from one
asyncio program that awaits every result on its event loop (burst.py
says what is measured).

Worker:    python3 -m taskwire worker -A taskwire_async_bench -Q aiobench -P asyncio -c 1000
Publisher: python3 taskwire_async_bench.py burst N ROUNDS | queued N FLAG
Prints one JSON line. Run with Debian's /usr/bin/python3, TW_ENGINE set,
inside the engine's namespace.
"""
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "clients", "python"))
import taskwire  # noqa: E402
from burst import SLEEP_S, parse_args, published, report, span, summary  # noqa: E402

app = taskwire.App("twasync")
app.conf.task_default_queue = "aiobench"


@app.task(name="sleep10ms")
async def sleep10ms():
    start = time.time()
    await asyncio.sleep(SLEEP_S)
    return [start, time.time()]


async def burst(n):
    start = time.perf_counter()
    sent, results = [], []
    for _ in range(n):
        sent.append(time.time())
        results.append(sleep10ms.delay())
    publish = time.perf_counter() - start
    runs = await asyncio.wait_for(asyncio.gather(*results), 300)
    wall = time.perf_counter() - start
    return wall, publish, [r[1] - s for r, s in zip(runs, sent)]


async def main():
    mode, n, arg = parse_args("taskwire_async_bench.py")
    if mode == "queued":
        results = [sleep10ms.delay() for _ in range(n)]
        app.client.wait_confirms(timeout=60)
        published(arg)
        report(span(await asyncio.wait_for(asyncio.gather(*results), 300)))
        return
    await asyncio.wait_for(sleep10ms.delay(), 60)     # warm-up: the worker is there
    runs = []
    for _ in range(arg):
        runs.append(await burst(n))
        await asyncio.sleep(0.5)
    report(summary(runs))


if __name__ == "__main__":
    asyncio.run(main())
