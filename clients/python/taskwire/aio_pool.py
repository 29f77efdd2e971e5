"""The asyncio pool (-P asyncio -c N): up to N tasks at once in one
process, on one event loop. For tasks that mostly wait on the network
(an LLM or GPU endpoint, a fetch, a mail server): hundreds of them cost
one process, not one prefork child each. The credit (prefetch) is N x the
prefetch multiplier, as for the other pools (the engine grants up to
65,535, so -c 1000 runs 1,000 at once).

- `async def` tasks run as asyncio tasks of the loop; plain `def` tasks
  run in the loop's default thread executor (so one blocking task does
  not stall the others), with the same acks.
- Time limits: the running coroutine is cancelled (CancelledError inside
  it, where it may clean up) at its soft_time_limit, or at its time_limit
  when it has no soft one; the task ends FAILURE SoftTimeLimitExceeded /
  TimeLimitExceeded. A coroutine that never awaits cannot be cancelled:
  a watchdog thread sees the loop stop turning past that task's hard
  limit and ends the process (exit 70), so the engine's lease delivers
  the task again elsewhere.
- SIGTERM / SIGINT: warm shutdown (running tasks finish, prefetched ones
  go back with the cancel); a second one: cold.
"""
import asyncio
import logging
import os
import queue
import signal
import threading
import time

from .app import SoftTimeLimitExceeded

log = logging.getLogger("taskwire.worker")

WATCHDOG_EXIT = 70


class TimeLimitExceeded(Exception):
    """A task ran past its hard time limit."""


async def _run_one(worker, d, running):
    ready = worker.prepare(d)
    if ready is None:
        return
    task, args, kwargs, request = ready
    task.push_request(request)      # this asyncio task's own context
    start = time.monotonic_ns()
    limit, kind = ((task.soft_time_limit, SoftTimeLimitExceeded) if task.soft_time_limit
                   else (task.time_limit, TimeLimitExceeded))
    me = asyncio.current_task()
    running[me] = (time.monotonic(), task.time_limit)
    try:
        if task.is_coroutine:
            body = task.run(*args, **kwargs)
        else:
            loop = asyncio.get_running_loop()
            ctx_run = __import__("contextvars").copy_context().run
            body = loop.run_in_executor(None, ctx_run, lambda: task.run(*args, **kwargs))
        try:
            value = await asyncio.wait_for(body, limit) if limit else await body
        except asyncio.TimeoutError:
            raise kind("%s: ran past its %s (%ss)" % (
                task.name, "soft time limit" if kind is SoftTimeLimitExceeded else "time limit",
                limit)) from None
    except Exception as e:  # noqa: BLE001 - the task's outcome
        worker.finish(d, task, start, exc=e)
    else:
        worker.finish(d, task, start, value=value)
    finally:
        running.pop(me, None)
        task.pop_request()


def _watchdog(state, running, stop):
    """End the process when the loop has not turned for longer than the
    hard limit of a task that is running: a coroutine that never awaits."""
    while not stop.wait(0.2):
        now = time.monotonic()
        stalled = now - state["tick"]
        for started, hard in list(running.values()):
            if hard and now - started > hard and stalled > 1.0:
                log.error("asyncio pool: the loop has not turned for %.1f s and a task is "
                          "past its time limit (%ss): exiting so its delivery is given again",
                          stalled, hard)
                os._exit(WATCHDOG_EXIT)


async def _serve(worker, max_tasks):
    loop = asyncio.get_running_loop()
    shutdown = worker.shutdown

    def on_signal(signum):
        if shutdown.is_set():
            log.warning("worker: cold shutdown (signal %d again)", signum)
            os._exit(1)
        log.info("worker: warm shutdown (signal %d): running tasks finish", signum)
        shutdown.set()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, on_signal, s)
    slots = asyncio.Semaphore(worker.concurrency)
    running, tasks = {}, set()
    state = {"tick": time.monotonic()}
    stop = threading.Event()
    threading.Thread(target=_watchdog, args=(state, running, stop), daemon=True,
                     name="taskwire-watchdog").start()
    arrived = asyncio.Event()
    worker.consumer.on_delivery = lambda: loop.call_soon_threadsafe(arrived.set)
    taken = 0
    try:
        while not shutdown.is_set() and (max_tasks is None or taken < max_tasks):
            state["tick"] = time.monotonic()
            try:
                d = worker.consumer.deliveries.get_nowait()
            except queue.Empty:
                arrived.clear()
                if worker.consumer.deliveries.empty():
                    try:    # woken by the receive thread; the timeout keeps the tick fresh
                        await asyncio.wait_for(arrived.wait(), 0.2)
                    except asyncio.TimeoutError:
                        pass
                continue
            await slots.acquire()
            taken += 1
            t = asyncio.ensure_future(_run_one(worker, d, running))
            tasks.add(t)
            t.add_done_callback(lambda t: (tasks.discard(t), slots.release()))
        while tasks:            # warm shutdown: running tasks finish and are acked
            state["tick"] = time.monotonic()
            await asyncio.wait(set(tasks), timeout=0.2)
    finally:
        stop.set()
    return taken


def run_asyncio(worker, max_tasks=None):
    """Serve worker's deliveries on an event loop (the consumer is
    subscribed already). @return deliveries taken."""
    try:
        return asyncio.run(_serve(worker, max_tasks))
    finally:
        worker.consumer.cancel()
        worker.consumer.drain_acks()
        worker.consumer.close()
