"""The Channels layer on taskwire (taskwire.contrib.channels), two layer
instances standing for two processes, against the real engine."""
import asyncio
import time

import pytest

pytest.importorskip("channels")
from channels.exceptions import ChannelFull  # noqa: E402

from taskwire.contrib.channels import TaskwireChannelLayer  # noqa: E402

pytestmark = pytest.mark.engine


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_specific_channels_between_two_processes():
    async def main():
        a, b = TaskwireChannelLayer(prefix="twcht"), TaskwireChannelLayer(prefix="twcht")
        try:
            ca, cb = await a.new_channel(), await b.new_channel()
            assert ca != cb and "!" in ca
            await a.send(cb, {"type": "hello", "text": "from a", "n": 1, "raw": b"\x00\xff"})
            m = await b.receive(cb)
            assert m == {"type": "hello", "text": "from a", "n": 1, "raw": b"\x00\xff"}
            # receive first, send after: the waiting receive is woken
            waiting = asyncio.ensure_future(a.receive(ca))
            await asyncio.sleep(0.05)
            await b.send(ca, {"type": "reply"})
            assert (await waiting) == {"type": "reply"}
            # many in order
            for i in range(50):
                await a.send(cb, {"type": "seq", "i": i})
            got = [(await b.receive(cb))["i"] for _ in range(50)]
            assert got == list(range(50))
        finally:
            await a.close()
            await b.close()
    run(main())


def test_groups_reach_every_member_once():
    async def main():
        a, b = TaskwireChannelLayer(prefix="twchg"), TaskwireChannelLayer(prefix="twchg")
        try:
            a1, a2, b1 = await a.new_channel(), await a.new_channel(), await b.new_channel()
            for layer, ch in ((a, a1), (a, a2), (b, b1)):
                await layer.group_add("room-1", ch)
            await b.group_send("room-1", {"type": "chat.message", "text": "hi all"})
            for layer, ch in ((a, a1), (a, a2), (b, b1)):
                assert (await layer.receive(ch))["text"] == "hi all"
            await a.group_discard("room-1", a2)
            await a.group_send("room-1", {"type": "chat.message", "text": "second"})
            assert (await a.receive(a1))["text"] == "second"
            assert (await b.receive(b1))["text"] == "second"
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(a.receive(a2), 0.5)
            await b.group_send("nobody-here", {"type": "x"})   # an empty group: nothing, no error
        finally:
            await a.flush()
            await a.close()
            await b.close()
    run(main())


def test_bad_input_is_refused():
    """Names that break the specification's rules, a message that does not
    serialize and a receive on another instance's channel are refused
    before anything is sent or taken: the receiver's first message is the
    valid one sent after them, and nothing else follows it."""
    async def main():
        a, b = TaskwireChannelLayer(prefix="twchb"), TaskwireChannelLayer(prefix="twchb")
        try:
            ca, cb = await a.new_channel(), await b.new_channel()
            sent = a.client.stats().get("tasks_sent", 0)
            for name in ("bad name with spaces", "x" * 100, "caf\u00e9", "", "two!bangs!", None,
                         b"bytes"):
                with pytest.raises(TypeError):
                    await a.send(name, {"type": "x"})
                with pytest.raises(TypeError):
                    await a.receive(name)
                with pytest.raises(TypeError):
                    await a.group_add("room", name)
            for message in ({"type": "x", "obj": object()}, {"type": "x", "set": {1, 2}}):
                with pytest.raises(TypeError):
                    await a.send(cb, message)                       # does not serialize
                with pytest.raises(TypeError):
                    await a.group_send("room", message)
            for group in ("bad group!", "g" * 100, ""):
                with pytest.raises(TypeError):
                    await a.group_add(group, ca)
                with pytest.raises(TypeError):
                    await a.group_send(group, {"type": "x"})
            assert a.client.stats().get("tasks_sent", 0) == sent, "a refused message was sent"
            with pytest.raises(ValueError):
                await a.receive(cb)                                  # b's channel, not a's
            await a.send(cb, {"type": "valid"})
            assert (await asyncio.wait_for(b.receive(cb), 10)) == {"type": "valid"}
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(b.receive(cb), 0.3)          # nothing else reached it
            longest = "n" * 99                                      # the longest valid name
            await a.send(longest, {"type": "edge"})
            assert (await asyncio.wait_for(b.receive(longest), 10)) == {"type": "edge"}
            assert a.extensions == ["groups", "flush"]
        finally:
            await a.flush()
            await a.close()
            await b.close()
    run(main())


def test_expired_messages_are_dropped_and_counted():
    async def main():
        a = TaskwireChannelLayer(prefix="twche", expiry=1)
        try:
            ca = await a.new_channel()
            a.consumer.on_delivery = None           # hold deliveries back for a while
            await a.send(ca, {"type": "late"})
            await asyncio.sleep(1.5)
            a._drain()
            assert a.stats().get("expired") == 1, a.stats()
            a.consumer.on_delivery = a._drain
            await a.send(ca, {"type": "fresh"})
            assert (await a.receive(ca)) == {"type": "fresh"}
        finally:
            await a.close()
    run(main())


def test_buffers_of_channels_nobody_receives_on_are_bounded_and_expire():
    """A process's channel whose consumer went away (its receive cancelled,
    never called again): what arrives for it beyond its capacity is dropped
    and counted, the rest expires and is swept, and nothing of it is left
    in the layer (as channels_redis keeps nothing past expiry)."""
    async def main():
        a = TaskwireChannelLayer(prefix="twchb", expiry=1)
        b = TaskwireChannelLayer(prefix="twchb", expiry=1, channel_capacity={"specific.*": 2})
        try:
            gone, live = await b.new_channel(), await b.new_channel()
            waiting = asyncio.ensure_future(b.receive(gone))
            await asyncio.sleep(0.1)
            waiting.cancel()            # Channels cancels a closed consumer's receive
            await asyncio.gather(waiting, return_exceptions=True)
            assert gone not in b.waiters
            for i in range(5):
                await a.send(gone, {"type": "m", "i": i})
            await a.send(live, {"type": "live"})
            assert (await b.receive(live)) == {"type": "live"}
            assert [m for _, m in b.buffers[gone]] == [{"type": "m", "i": 0}, {"type": "m", "i": 1}]
            assert b.stats()["buffer_full"] == 3, b.stats()
            await asyncio.sleep(1.1)    # past expiry: an arrival a second after the last sweep sweeps
            deadline = time.monotonic() + 10
            while gone in b.buffers and time.monotonic() < deadline:
                await a.send(live, {"type": "later"})
                assert (await b.receive(live)) == {"type": "later"}
                await asyncio.sleep(0.2)
            assert gone not in b.buffers and live not in b.buffers, dict(b.buffers)
            assert b.stats()["expired"] == 2, b.stats()
            assert not b.waiters, dict(b.waiters)
        finally:
            await a.close()
            await b.close()
    run(main())


def test_a_full_channel_raises_channel_full():
    """capacity 3 and a process whose consumer has stopped taking (it keeps
    the subscription: the queue stays its own): the 4th send is refused."""
    async def main():
        a, b = TaskwireChannelLayer(prefix="twchf"), TaskwireChannelLayer(prefix="twchf", capacity=3)
        try:
            cb = await b.new_channel()
            b.consumer.prefetch = 1
            b.consumer.on_delivery = None
            b.consumer._send(b.consumer._subscribe_frame())
            await asyncio.sleep(0.2)
            sent = 0
            with pytest.raises(ChannelFull):
                for _ in range(10):
                    await a.send(cb, {"type": "fill"})
                    sent += 1
            assert 3 <= sent <= 5, sent      # the queue's 3, and the window's one in flight
        finally:
            await a.close()
            await b.close()
    run(main())


def _bindings(layer, group):
    from taskwire.contrib.channels import _list_request
    resp = layer.client.control.call(_list_request("BINDINGS"))
    return sorted(b.destination for b in resp.bindings if b.source == layer._exchange_of(group))


def test_group_membership_expires_after_group_expiry():
    """Channels' group_expiry: a membership ends group_expiry seconds after
    its last group_add (a process channel gets nothing, a named one's
    binding goes); a group_add again renews it."""
    async def main():
        a = TaskwireChannelLayer(prefix="twchx", group_expiry=1)
        s = TaskwireChannelLayer(prefix="twchx")
        try:
            ca, cb = await a.new_channel(), await a.new_channel()
            # a named channel's receiver first (before it the engine's lcores take its messages)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(a.receive("named.worker"), 0.2)
            for ch in (ca, cb, "named.worker"):
                await a.group_add("room", ch)
            await s.group_send("room", {"type": "first"})
            assert (await a.receive(ca))["type"] == "first"
            assert (await a.receive(cb))["type"] == "first"
            assert (await a.receive("named.worker"))["type"] == "first"
            assert _bindings(a, "room") == ["twchx.n.named.worker", a._process_queue()]
            await asyncio.sleep(0.7)
            await a.group_add("room", cb)           # renewed: cb stays 1 s more
            await asyncio.sleep(0.5)                # ca and named.worker expired
            await s.group_send("room", {"type": "second"})
            assert (await a.receive(cb))["type"] == "second"
            for ch in (ca, "named.worker"):
                try:
                    m = await asyncio.wait_for(a.receive(ch), 0.3)
                    raise AssertionError("%s got %s after its membership expired (%s)"
                                         % (ch, m, a.stats()))
                except asyncio.TimeoutError:
                    pass
            assert a.stats().get("group_expired", 0) >= 1, a.stats()
            assert a.stats().get("group_expired_dropped", 0) >= 1, a.stats()
            # the named channel's binding went at a's next call after its expiry
            assert _bindings(a, "room") == [a._process_queue()]
            await asyncio.sleep(1.2)                # cb expired too: no member left here
            await a.send(ca, {"type": "tick"})      # a layer call: the sweep unbinds
            assert (await a.receive(ca))["type"] == "tick"
            assert _bindings(a, "room") == []
            await s.group_send("room", {"type": "third"})
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(a.receive(cb), 0.3)
            await a.group_add("room", ca)           # joined again
            await s.group_send("room", {"type": "fourth"})
            assert (await a.receive(ca))["type"] == "fourth"
            assert a.group_expiry == 1 and s.group_expiry == 86400
        finally:
            await s.flush()
            await a.close()
            await s.close()
    run(main())


# Groups of the scale test: 1,000 groups (exchanges) and 10,000 channels
# from one process, as the Channels issue asks (the engine holds 65,536
# exchanges and queues).
SCALE_GROUPS = 1000
SCALE_LAYERS = 10
SCALE_CHANNELS = 10000


def _rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_ten_thousand_channels_in_groups_from_one_process():
    """10,000 process channels over 10 layer instances (processes' worth)
    in one Python process, in SCALE_GROUPS groups (each group's members in
    one instance) plus one group with a member in every instance: one
    group_send per group reaches every member exactly once, nothing else;
    time and memory printed."""
    async def main():
        t0, rss0 = time.monotonic(), _rss_kib()
        layers = [TaskwireChannelLayer(prefix="twchs", capacity=1000) for _ in range(SCALE_LAYERS)]
        sender = TaskwireChannelLayer(prefix="twchs")
        per_layer = SCALE_CHANNELS // SCALE_LAYERS
        try:
            member_of = {}          # channel -> (layer, its group)
            across = set()          # members of "all" too
            for li, layer in enumerate(layers):
                mine = [g for g in range(SCALE_GROUPS) if g % SCALE_LAYERS == li]
                for k in range(per_layer):
                    ch = await layer.new_channel()
                    g = mine[k % len(mine)]
                    await layer.group_add("g%d" % g, ch)
                    member_of[ch] = (layer, g)
                await layer.group_add("all", ch)      # one member per instance
                across.add(ch)
            t_join = time.monotonic()
            assert len(member_of) == SCALE_CHANNELS
            for g in range(SCALE_GROUPS):
                await sender.group_send("g%d" % g, {"type": "fan", "g": g})
            await sender.group_send("all", {"type": "all"})
            t_sent = time.monotonic()
            for ch, (layer, g) in member_of.items():
                want = [{"type": "fan", "g": g}] + ([{"type": "all"}] if ch in across else [])
                got = [await asyncio.wait_for(layer.receive(ch), 20) for _ in want]
                assert sorted(got, key=str) == sorted(want, key=str), (ch, got, want)
            t_recv = time.monotonic()
            assert len(across) == SCALE_LAYERS, len(across)
            await asyncio.sleep(0.3)        # anything more (a duplicate) would be here by now
            left = sum(len(b) for layer in layers for b in layer.buffers.values())
            assert left == 0, "%d messages more than each member's own" % left
            print("scale: %d channels, %d groups (+1 across %d instances): join %.2f s, "
                  "%d group_sends %.2f s, %d receives %.2f s; RSS +%d KiB"
                  % (SCALE_CHANNELS, SCALE_GROUPS, SCALE_LAYERS, t_join - t0, SCALE_GROUPS + 1,
                     t_sent - t_join, SCALE_CHANNELS + SCALE_LAYERS, t_recv - t_sent,
                     _rss_kib() - rss0))
        finally:
            await sender.flush()
            for layer in layers + [sender]:
                await layer.close()
    asyncio.run(asyncio.wait_for(main(), 240))


def test_named_channel_keeps_messages_sent_before_its_receiver():
    """A named channel's queue belongs to remote consumers from its
    declaration: what a sender puts there before any process receives on
    it waits for the first receiver (the engine's lcores, which do not know
    channel messages, never take it), in order; and a receiver appearing
    later in another process gets what was sent meanwhile."""
    async def main():
        a = TaskwireChannelLayer(prefix="twchn")
        b = TaskwireChannelLayer(prefix="twchn")
        try:
            for i in range(5):
                await a.send("thumbnails.worker", {"type": "job", "i": i})
            await asyncio.sleep(0.3)        # time for lcores to take them, if they could
            got = [(await asyncio.wait_for(b.receive("thumbnails.worker"), 10))["i"]
                   for _ in range(5)]
            assert got == list(range(5)), got
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(b.receive("thumbnails.worker"), 0.3)
            # a group send to a named member nobody receives on yet is kept too
            await a.group_add("jobs", "resize.worker")
            await a.group_send("jobs", {"type": "job", "i": 99})
            await asyncio.sleep(0.3)
            assert (await asyncio.wait_for(b.receive("resize.worker"), 10))["i"] == 99
        finally:
            await a.flush()
            await a.close()
            await b.close()
    run(main())


def test_foreign_and_damaged_messages_do_not_stop_receiving():
    """Tasks on the layer's queue that are not its envelopes (another
    publisher's, damaged, of the wrong shape) and a handler that raises are
    counted and dropped; the receive thread goes on delivering."""
    import msgpack
    from taskwire.contrib.channels import MESSAGE_TASK

    async def main():
        a = TaskwireChannelLayer(prefix="twchd")
        try:
            ca = await a.new_channel()
            queue = a._queue_of(ca)
            bad = [b"\xc1not msgpack", msgpack.packb([1, 2, 3]), msgpack.packb({"c": ca}),
                   msgpack.packb({"c": 7, "m": {"type": "x"}}),
                   msgpack.packb({"c": ca, "m": {"type": "x"}, "x": "soon"})]
            for data in bad:
                r = a.client.publish(MESSAGE_TASK, (data,), ignore_result=True, queue=queue)
                await r.aconfirm(timeout=10)
            # a delivery hook that raises once: the thread survives it, and
            # the next delivery brings the one it left behind
            drain, calls = a._drain, []

            def failing_once():
                calls.append(1)
                if len(calls) == 1:
                    raise RuntimeError("injected")
                drain()
            deadline = time.monotonic() + 10
            while a.stats().get("undecodable", 0) < len(bad) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert a.stats().get("undecodable") == len(bad), a.stats()
            a.consumer.on_delivery = failing_once
            await a.send(ca, {"type": "first"})
            while not calls and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await a.send(ca, {"type": "second"})
            got = [await asyncio.wait_for(a.receive(ca), 10) for _ in range(2)]
            assert got == [{"type": "first"}, {"type": "second"}], got
            assert a.consumer.stats.get("handler_errors") == 1, a.consumer.stats
            assert a.consumer.threads[0].is_alive()
        finally:
            await a.close()
    run(main())
