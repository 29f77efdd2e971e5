"""Driver of tests/integration/channels_restart_test.sh: the Channels layer
while its engine is stopped and started again (steps the script
runs in the root network namespace when asked on this process's output). Exits non-zero, naming
the step, on the first broken expectation; every wait is bounded."""
import asyncio
import os
import select
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from taskwire.contrib.channels import ChannelLayerUnavailable, TaskwireChannelLayer  # noqa: E402

HEARTBEAT_MS = 400
TIMEOUT_S = 2.0


def engine(step):
    """Ask the test script for a step (it runs in the root namespace) and
    wait, bounded, for its answer."""
    print("STEP " + step, flush=True)
    ready, _, _ = select.select([sys.stdin], [], [], 120)
    answer = sys.stdin.readline().strip() if ready else "no answer in 120 s"
    if answer != "ok":
        raise SystemExit("engine %s: %s" % (step, answer))


async def expect_unavailable(what, coro, within):
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(coro, within + 5)
    except ChannelLayerUnavailable as e:
        took = time.monotonic() - t0
        assert took <= within, "%s: raised after %.2f s, more than %.1f s" % (what, took, within)
        print("ok: %s -> ChannelLayerUnavailable after %.2f s: %s" % (what, took, e))
        return
    except asyncio.TimeoutError:
        raise AssertionError("%s: hung (no error within %.1f s)" % (what, within + 5)) from None
    raise AssertionError("%s: no error while the engine is gone" % what)


async def wait_restored(layer, within):
    deadline = time.monotonic() + within
    while layer.stats().get("restored", 0) < 1 or layer.engine_gone is not None:
        assert time.monotonic() < deadline, "not restored within %.0f s: %s" % (within, layer.stats())
        await asyncio.sleep(0.05)


async def main():
    opts = dict(prefix="twchr", timeout=TIMEOUT_S, heartbeat_ms=HEARTBEAT_MS)
    a, b = TaskwireChannelLayer(**opts), TaskwireChannelLayer(**opts)
    try:
        ca, cb = await a.new_channel(), await b.new_channel()
        with_timeout = asyncio.wait_for
        try:
            await with_timeout(b.receive("jobs.worker"), 0.2)   # b receives on a named channel
        except asyncio.TimeoutError:
            pass
        await b.group_add("room", cb)
        await a.group_add("room", ca)
        await a.send(cb, {"type": "before"})
        assert (await with_timeout(b.receive(cb), 10))["type"] == "before"
        await a.send("jobs.worker", {"type": "job", "n": 0})
        assert (await with_timeout(b.receive("jobs.worker"), 10))["n"] == 0
        print("ok: send, receive and a named channel before the stop")

        waiting = asyncio.ensure_future(b.receive(cb))
        await asyncio.sleep(0.1)
        t_stop = time.monotonic()
        engine("stop")
        print("engine stopped in %.2f s" % (time.monotonic() - t_stop))
        # a waiting receive fails once the engine missed three heartbeats
        await expect_unavailable("a waiting receive", waiting, 3 * HEARTBEAT_MS / 1000 + 3)
        await expect_unavailable("a new receive", b.receive(cb), 0.5)
        await expect_unavailable("a send", a.send(cb, {"type": "lost"}), TIMEOUT_S + 1)
        await expect_unavailable("a group_add (tw-control gone)", a.group_add("room2", ca), 1)
        try:
            TaskwireChannelLayer(**opts)
            raise AssertionError("a new layer while the engine's port is gone: no error")
        except ChannelLayerUnavailable as e:
            print("ok: a new layer -> ChannelLayerUnavailable: %s" % e)

        engine("start")
        t_back = time.monotonic()
        await wait_restored(b, 20)
        await wait_restored(a, 20)
        print("ok: both layer instances restored %.2f s after the engine started"
              % (time.monotonic() - t_back))
        await a.send(cb, {"type": "after"})
        assert (await with_timeout(b.receive(cb), 10))["type"] == "after"
        await b.send(ca, {"type": "reply"})
        assert (await with_timeout(a.receive(ca), 10))["type"] == "reply"
        await a.group_send("room", {"type": "room"})
        assert (await with_timeout(a.receive(ca), 10))["type"] == "room"
        assert (await with_timeout(b.receive(cb), 10))["type"] == "room"
        await a.send("jobs.worker", {"type": "job", "n": 1})
        assert (await with_timeout(b.receive("jobs.worker"), 10))["n"] == 1
        print("ok: after the restart: send, receive, group_send to both members, a named channel")
        print("stats a=%s b=%s" % (a.stats(), b.stats()))
    finally:
        await a.close()
        await b.close()


if __name__ == "__main__":
    asyncio.run(main())
