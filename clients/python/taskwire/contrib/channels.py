"""A Django Channels channel layer on taskwire's queues and exchanges.

    CHANNEL_LAYERS = {"default": {
        "BACKEND": "taskwire.contrib.channels.TaskwireChannelLayer",
        "CONFIG": {"engine": "10.77.0.1:5555", "control_socket": "/run/taskwire/control.sock"},
    }}

The mapping:
 - a named channel ("chat.worker") is an engine queue, PREFIX.n.NAME;
 - the process-specific channels of one layer instance
   (new_channel(): "specific.CLIENT!ID") share one queue, PREFIX.p.CLIENT,
   demultiplexed here by channel name; only this instance may receive on
   them (a receive on another instance's channel is refused);
 - a group is a fanout exchange, PREFIX.g.GROUP, bound to the queues of its
   members; a group message reaching a process queue goes to the members
   of the group in that process (group_add is called by the process that
   owns the channel, as consumers do);
 - messages travel as tasks (name "channels.message", args the msgpack of
   an envelope: channel, group, expiry time, message), delivered to this
   layer as a remote consumer and acked at once (at most once, as
   channels_redis);
 - capacity: each queue holds at most `capacity` messages (a named
   channel's own capacity from channel_capacity); a send to a full one is
   refused by the engine (NACK queue-full) and raises ChannelFull; a group
   send to a full member drops that member's copy, as the specification
   allows;
 - expiry: a message not received within `expiry` seconds is dropped
   (counted in stats()["expired"]).

Limits (said, not hidden): a named channel's queue keeps messages for its
receivers once one has received on it (the layer holds the queues it
consumes: Subscribe.hold), but before the first receive anywhere its
messages go to the engine's own lcores, which do not know them: receive on a
named channel before sending to it; group_expiry is not enforced (membership
lasts until group_discard or the layer's close); queues and exchanges are
made through tw-control's socket, so a layer needs that socket (the machine
of tw-control, or a socket it shares).
"""
import asyncio
import collections
import threading
import time
import uuid

import msgpack

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer

from ..client import Client
from ..errors import ControlError, TaskRejected
from ..worker import Consumer

MESSAGE_TASK = "channels.message"


class TaskwireChannelLayer(BaseChannelLayer):
    extensions = ["groups", "flush"]

    def __init__(self, engine=None, control_socket=None, prefix="twch", expiry=60,
                 group_expiry=86400, capacity=100, channel_capacity=None, netns=None, **kw):
        super().__init__(expiry=expiry, capacity=capacity, channel_capacity=channel_capacity)
        self.group_expiry = group_expiry
        self.prefix = prefix
        self.client = Client(engine=engine, control_socket=control_socket, netns=netns,
                             serializer="raw", **kw)
        if self.client.control is None:
            raise ValueError("the taskwire channel layer needs tw-control's socket "
                             "(control_socket, or $TW_SOCKET)")
        self.client_prefix = uuid.uuid4().hex[:16]
        self.netns = netns
        self.lock = threading.Lock()
        self.buffers = collections.defaultdict(collections.deque)   # channel -> messages
        self.waiters = collections.defaultdict(collections.deque)   # channel -> futures
        self.local_groups = collections.defaultdict(set)            # group -> our channels
        self.declared = set()       # queues and exchanges made by this instance
        self.subscribed = []        # queues this instance consumes
        self.consumer = None
        self.stats_ = collections.Counter()

    # -- names -------------------------------------------------------------------

    def _process_queue(self, client_prefix=None):
        return "%s.p.%s" % (self.prefix, client_prefix or self.client_prefix)

    def _queue_of(self, channel):
        if "!" in channel:
            client = channel[:channel.index("!")].rsplit(".", 1)[-1]
            return self._process_queue(client)
        return "%s.n.%s" % (self.prefix, channel)

    def _exchange_of(self, group):
        return "%s.g.%s" % (self.prefix, group)

    def _capacity_of(self, channel):
        return self.get_capacity(channel)

    # -- engine objects (tw-control's socket blocks: run off the loop) -------------

    async def _control(self, fn, *args, **kw):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: fn(*args, **kw))

    async def _declare_queue(self, queue, capacity):
        if queue in self.declared:
            return
        await self._control(self.client.control.queue_declare, queue, max_length=capacity,
                            overflow="reject-publish", message_ttl=int(self.expiry * 1000))
        self.declared.add(queue)

    async def _declare_exchange(self, exchange):
        if exchange in self.declared:
            return
        from .._proto import control
        await self._control(self.client.control.call, control.Request(
            exchange_declare=control.ExchangeDeclare(name=exchange, type="fanout")))
        self.declared.add(exchange)

    async def _bind(self, exchange, queue, unbind=False):
        from .._proto import control
        b = control.Bind(source=exchange, destination=queue, routing_key="")
        req = control.Request(unbind=b) if unbind else control.Request(bind=b)
        try:
            await self._control(self.client.control.call, req)
        except ControlError:
            if not unbind:
                raise       # an unbind of what is not bound is fine (discard twice)

    async def _consume(self, queue):
        """Make sure this instance consumes queue (one subscription, its
        queues growing as channels are received on)."""
        if queue in self.subscribed:
            return
        self.subscribed.append(queue)
        loop = asyncio.get_running_loop()
        if self.consumer is None:
            self.consumer = Consumer(self.client.engine, self.subscribed, prefetch=256,
                                     name="channels@" + self.client_prefix,
                                     netns_name=self.netns)
            self.consumer.on_delivery = self._drain
            await loop.run_in_executor(None, self.consumer.start)
        else:
            self.consumer.queues = list(self.subscribed)
            # the same consumer id again: its queues are replaced, deliveries stay valid
            self.consumer._send(self.consumer._subscribe_frame())

    # -- delivery (the consumer's receive thread) -----------------------------------

    def _drain(self):
        c = self.consumer
        while True:
            try:
                d = c.deliveries.get_nowait()
            except Exception:  # noqa: BLE001 - queue.Empty
                return
            c.ack(d.delivery_tag, "SUCCESS")    # at most once: received is done
            try:
                env = msgpack.unpackb(d.task.args, raw=False)
            except Exception:  # noqa: BLE001 - not ours: counted, dropped
                self.stats_["undecodable"] += 1
                continue
            if env.get("x") and time.time() > env["x"]:
                self.stats_["expired"] += 1
                continue
            if env.get("g") is not None:
                queue = d.queue
                if queue.startswith(self.prefix + ".n."):
                    targets = [queue[len(self.prefix) + 3:]]
                else:
                    with self.lock:
                        targets = list(self.local_groups.get(env["g"], ()))
            else:
                targets = [env["c"]]
            for ch in targets:
                self._put(ch, env["m"])

    def _put(self, channel, message):
        with self.lock:
            while self.waiters[channel]:
                loop, fut = self.waiters[channel].popleft()
                if not fut.done():
                    loop.call_soon_threadsafe(
                        lambda f=fut, m=message: f.done() or f.set_result(m))
                    return
            self.buffers[channel].append(message)
            self.stats_["buffered"] += 1

    # -- the specification ---------------------------------------------------------

    async def new_channel(self, prefix="specific"):
        name = "%s.%s!%s" % (prefix, self.client_prefix, uuid.uuid4().hex)
        self.valid_channel_name(name)
        q = self._process_queue()
        await self._declare_queue(q, self.capacity)
        await self._consume(q)
        return name

    async def send(self, channel, message):
        assert isinstance(message, dict), "message is not a dict"
        self.valid_channel_name(channel)
        data = self._pack({"c": channel, "m": message})
        queue = self._queue_of(channel)
        if "!" not in channel:
            await self._declare_queue(queue, self._capacity_of(channel))
        r = self.client.publish(MESSAGE_TASK, (data,), queue=queue, ignore_result=True,
                                expires=self.expiry)
        await self._confirmed(r, channel)

    async def _confirmed(self, result, channel):
        try:
            await result.aconfirm(timeout=10)
        except TaskRejected as e:
            if e.reason == "queue-full":
                raise ChannelFull(channel) from None
            raise

    def _pack(self, env):
        env["x"] = time.time() + self.expiry
        try:
            return msgpack.packb(env, use_bin_type=True)
        except (TypeError, ValueError) as e:
            raise TypeError("channel message does not serialize (msgpack): %s" % e) from None

    async def receive(self, channel):
        self.valid_channel_name(channel)
        if "!" in channel:
            if self._queue_of(channel) != self._process_queue():
                raise ValueError("channel %s belongs to another layer instance: only its "
                                 "owner receives on it" % channel)
        else:
            q = self._queue_of(channel)
            await self._declare_queue(q, self._capacity_of(channel))
            await self._consume(q)
        loop = asyncio.get_running_loop()
        with self.lock:
            if self.buffers[channel]:
                return self.buffers[channel].popleft()
            fut = loop.create_future()
            self.waiters[channel].append((loop, fut))
        try:
            return await fut
        finally:
            if not fut.done():
                fut.cancel()

    async def group_add(self, group, channel):
        self.valid_group_name(group)
        self.valid_channel_name(channel)
        exchange = self._exchange_of(group)
        await self._declare_exchange(exchange)
        queue = self._queue_of(channel)
        if "!" not in channel:
            await self._declare_queue(queue, self._capacity_of(channel))
        else:
            with self.lock:
                self.local_groups[group].add(channel)
        await self._bind(exchange, queue)

    async def group_discard(self, group, channel):
        self.valid_group_name(group)
        self.valid_channel_name(channel)
        queue = self._queue_of(channel)
        if "!" in channel:
            with self.lock:
                members = self.local_groups.get(group, set())
                members.discard(channel)
                if members:
                    return      # other channels of this process still need the binding
        await self._bind(self._exchange_of(group), queue, unbind=True)

    async def group_send(self, group, message):
        assert isinstance(message, dict), "message is not a dict"
        self.valid_group_name(group)
        data = self._pack({"g": group, "m": message})
        r = self.client.publish(MESSAGE_TASK, (data,), exchange=self._exchange_of(group),
                                routing_key="", ignore_result=True, expires=self.expiry)
        try:
            await self._confirmed(r, group)
        except (ChannelFull, TaskRejected):
            pass        # an empty group, or full members: their copies are dropped

    async def flush(self):
        """Remove every queue and exchange of this layer's prefix, and what
        this instance holds."""
        lists = await self._control(self.client.control.call, _list_request("QUEUES"))
        for q in lists.queues:
            if q.name.startswith(self.prefix + "."):
                await self._control(self.client.control.queue_delete, q.name)
        lists = await self._control(self.client.control.call, _list_request("EXCHANGES"))
        from .._proto import control
        for e in lists.exchanges:
            if e.name.startswith(self.prefix + "."):
                await self._control(self.client.control.call, control.Request(
                    exchange_delete=control.ExchangeDelete(name=e.name)))
        with self.lock:
            self.buffers.clear()
            self.local_groups.clear()
        self.declared.clear()

    async def close(self):
        if self.consumer is not None:
            self.consumer.cancel()
            self.consumer.close()
            self.consumer = None
        try:
            await self._control(self.client.control.queue_delete, self._process_queue())
        except ControlError:
            pass
        self.client.close()

    def stats(self):
        return dict(self.stats_)


def _list_request(what):
    from .._proto import control
    return control.Request(list=control.ListRequest(
        what=control.ListRequest.What.Value(what)))


__all__ = ["TaskwireChannelLayer", "ChannelFull"]
