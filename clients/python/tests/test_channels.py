"""The Channels layer on taskwire (taskwire.contrib.channels), two layer
instances standing for two processes, against the real engine."""
import asyncio

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
    async def main():
        a, b = TaskwireChannelLayer(prefix="twchb"), TaskwireChannelLayer(prefix="twchb")
        try:
            ca, cb = await a.new_channel(), await b.new_channel()
            with pytest.raises(TypeError):
                await a.send("bad name with spaces", {"type": "x"})
            with pytest.raises(TypeError):
                await a.send(cb, {"type": "x", "obj": object()})     # does not serialize
            with pytest.raises(ValueError):
                await a.receive(cb)                                  # b's channel, not a's
            with pytest.raises(TypeError):
                await a.group_add("bad group!", ca)
            assert a.extensions == ["groups", "flush"]
        finally:
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
