"""asyncio: awaitable results (the client's receive thread wakes the
waiting coroutines: no thread per waiting task) and the asyncio pool
(-P asyncio: many `async def` tasks at once in one worker process)."""
import asyncio
import os
import subprocess
import sys
import time

import pytest

import taskwire
from test_worker import assert_unprintable_fails, start_worker, stop

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "workerapp"))


@pytest.fixture(scope="module")
def aio_queue():
    from wtasks import app
    q = "pywork-aio"
    app.client.control.queue_declare(q)
    p = start_worker("-P", "asyncio", "-c", "200", "--prefetch-multiplier", "1", queue=q)
    yield q
    assert stop(p) == 0, "warm shutdown of the asyncio worker did not exit 0"


def test_eager_coroutine_task():
    a = taskwire.App("aio-eager")
    a.conf.task_always_eager = True

    @a.task(name="aio.twice")
    async def twice(x):
        await asyncio.sleep(0)
        return 2 * x
    assert twice.delay(21).get() == 42


@pytest.mark.engine
def test_many_async_tasks_at_once_in_one_process(aio_queue):
    """200 tasks that each await 0.5 s: together well under their 100 s
    sum, so they ran concurrently; every result awaited on one loop."""
    from wtasks import asleep

    async def main():
        rs = [asleep.apply_async((0.5,), queue=aio_queue) for _ in range(200)]
        t0 = time.monotonic()
        ids = await asyncio.gather(*rs)
        return rs, ids, time.monotonic() - t0
    rs, ids, took = asyncio.run(main())
    assert ids == [r.id for r in rs]
    assert took < 15, "200 x 0.5 s sleeps took %.1f s: not concurrent" % took


@pytest.mark.engine
def test_awaiting_a_failure_raises_and_a_timeout_expires(aio_queue):
    from wtasks import asoft

    async def main():
        with pytest.raises(taskwire.TaskFailed) as e:
            await asoft.apply_async(queue=aio_queue)
        assert "SoftTimeLimitExceeded" in e.value.error, e.value.error
        # a task due in a minute: the awaited result times out
        r = asoft.apply_async(queue=aio_queue, countdown=60)
        with pytest.raises(taskwire.ResultTimeout):
            await r.aget(timeout=0.5)
    asyncio.run(main())


@pytest.mark.engine
def test_await_group_and_mixed_sync_tasks(aio_queue):
    """A sync task on the asyncio pool runs in the loop's thread executor."""
    from wtasks import add, app

    async def main():
        g = app.client.apply_canvas(taskwire.group([add.s(i, i).set(queue=aio_queue)
                                                    for i in range(10)]))
        return await g
    assert asyncio.run(main()) == [2 * i for i in range(10)]


@pytest.mark.engine
def test_an_unprintable_exception_is_a_failure(aio_queue):
    assert_unprintable_fails(aio_queue)


def _counters(app):
    """The engine's counters (tw-control's status), by name."""
    from taskwire._proto import control
    status = app.client.control.call(control.Request(status=control.StatusRequest())).status
    return {c.name: c.value for c in status.counters}


@pytest.mark.engine
def test_a_coroutine_that_never_awaits_costs_the_process_and_is_redelivered():
    """A coroutine that never awaits cannot be cancelled by a soft limit:
    the watchdog ends the worker whose loop is held past the task's hard
    limit (exit 70, said in its log); the engine's lease (1.5 s here) puts
    the delivery back, counted, and another worker runs it (delivery_count
    2 or more: a redelivery may first go to the dead one, which counts as
    alive until it misses three heartbeats); one result."""
    from wtasks import app, spin
    q = "pywork-spin"
    app.client.control.queue_declare(q)
    before = _counters(app)
    first = start_worker("-P", "asyncio", "-c", "4", "--lease-ms", "1500", queue=q)
    r = spin.apply_async(queue=q)
    try:
        out, _ = first.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        stop(first, sig="kill")
        raise AssertionError("the watchdog did not end the worker whose loop was held")
    assert first.returncode == 70, (first.returncode, out)
    assert "past its time limit" in out, out
    second = start_worker("-P", "asyncio", "-c", "4", queue=q)
    try:
        v = r.get(timeout=30)
        assert v["delivery_count"] >= 2 and v["pid"] == second.pid, v
    finally:
        assert stop(second) == 0
    after = _counters(app)
    assert after["rc_redelivered"] > before["rc_redelivered"], (before, after)
    gone = ("rc_lease_expired", "rc_lost")
    assert sum(after[k] for k in gone) > sum(before[k] for k in gone), (before, after)
