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
   (counted in stats()["expired"]), on arrival, on receive, or by a sweep
   of this process's buffers once a second: a channel nobody receives on
   any more (a consumer that went away) holds nothing after `expiry`;
 - this process's buffer of a channel holds at most the channel's capacity
   (capacity, or channel_capacity's): the engine refused the sender only
   when the process queue was full, so a message arriving for a full
   buffer is dropped here and counted (stats()["buffer_full"]), as a
   group member's copy is, instead of growing without bound behind a
   consumer that does not receive;
 - group_expiry (Channels' semantics, default 86400 s): a channel's
   membership of a group ends group_expiry seconds after its last
   group_add. For a process-specific channel it is checked when a group
   message reaches its process (an expired member gets nothing; counted in
   stats()["group_expired"]), and the binding goes when no member of that
   process is left; a named channel's membership is checked by the
   instance that added it when a group message reaches it there, and its
   binding is removed at that instance's next layer call after the expiry
   (a named channel another process receives on keeps getting the group's
   messages until then);
 - the engine going away: sends wait at most `timeout` seconds for the
   engine's confirm, control requests fail at once, and receives fail once
   the engine has been silent for three heartbeat intervals (heartbeat_ms;
   an idle instance probes it with its subscription): each with
   ChannelLayerUnavailable, never a hang. When the engine is back (it
   refuses this instance's heartbeat or subscription: it does not know
   them) the instance declares its
   queues, exchanges and bindings again and subscribes again; sends and
   receives work again (messages in flight while it was gone are lost, as
   with channels_redis when Redis restarts).

A named channel's queue is declared for remote consumers (the engine's
lcores never take its messages), so messages sent to it before its first
receiver are kept for it, within capacity and expiry.

Limits (said, not hidden): queues and exchanges are made through
tw-control's socket, so a layer needs that socket (the machine of
tw-control, or a socket it shares).
"""
import asyncio
import collections
import logging
import threading
import time
import uuid

import msgpack

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer

from ..client import Client
from ..errors import ControlError, EngineUnreachable, ResultTimeout, TaskRejected, TaskwireError
from ..worker import Consumer

log = logging.getLogger("taskwire.channels")

MESSAGE_TASK = "channels.message"
# heartbeat intervals without a word from the engine after which it counts
# as gone (the engine itself drops a consumer after as many)
MISSED_HEARTBEATS = 3
# the longest wait between two attempts to restore this instance's queues,
# exchanges and bindings on an engine that came back
RESTORE_BACKOFF_MAX_S = 1.0


class ChannelLayerUnavailable(TaskwireError, ConnectionError):
    """The engine (or tw-control's socket) is not there: a send was not
    confirmed in time, a control request could not be made, or a receive
    found the engine silent. The layer reconnects when the engine is back."""


class _LayerConsumer(Consumer):
    """The layer's subscription: notes when the engine last answered, and
    hands a refusal of a live subscription (the engine restarted and forgot
    this consumer, or lost the queues) to the layer instead of subscribing
    again at once (the queues must be declared again first)."""

    def __init__(self, *a, on_forgotten=None, on_silent=None, on_back=None, **kw):
        super().__init__(*a, **kw)
        self.last_heard = time.monotonic()
        self.on_forgotten = on_forgotten
        self.on_silent = on_silent
        self.on_back = on_back
        self.silent = False

    def _handle(self, f):
        self.last_heard = time.monotonic()
        was_silent, self.silent = self.silent, False
        forgotten = None
        replies = list(f.consumers)
        if self.subscribed.is_set() and self.on_forgotten is not None:
            mine = [r for r in replies if r.consumer_id == self.id]
            bad = [r for r in mine if not r.ok]
            if bad:
                forgotten = bad[0].detail or "refused"
                del f.consumers[:]
        super()._handle(f)
        if forgotten is not None:
            self.on_forgotten(forgotten)
        elif was_silent and self.on_back is not None:
            self.on_back()      # it was only quiet: it still knows this consumer

    def _heartbeat_loop(self):
        interval = (self.granted[2] if self.granted and self.granted[2] else self.heartbeat_ms)
        while not self.stop.wait(interval / 1000.0):
            quiet = time.monotonic() - self.last_heard
            if quiet >= interval / 1000.0 and self.subscribed.is_set():
                # nothing heard for an interval: the engine answers a known
                # consumer's heartbeat with silence but a subscription always
                # (the same one again: it also counts as a heartbeat)
                self._send(self._subscribe_frame())
                self.stats["probes"] = self.stats.get("probes", 0) + 1
            else:
                self._send(self._heartbeat_frame())
                self.stats["heartbeats"] += 1
            if not self.silent and quiet > MISSED_HEARTBEATS * interval / 1000.0:
                self.silent = True
                if self.on_silent is not None:
                    self.on_silent(quiet)

    def _heartbeat_frame(self):
        from .._proto import wire
        f = wire.Frame()
        f.heartbeat.consumer_id = self.id
        return f


class TaskwireChannelLayer(BaseChannelLayer):
    extensions = ["groups", "flush"]

    def __init__(self, engine=None, control_socket=None, prefix="twch", expiry=60,
                 group_expiry=86400, capacity=100, channel_capacity=None, netns=None,
                 timeout=10.0, heartbeat_ms=1000, **kw):
        super().__init__(expiry=expiry, capacity=capacity, channel_capacity=channel_capacity)
        # channels 4's base class keeps the mapping as given; get_capacity
        # wants it compiled (glob patterns or regexes), as channels_redis does
        self.channel_capacity = self.compile_capacities(channel_capacity or {})
        self.group_expiry = group_expiry
        self.prefix = prefix
        self.timeout = timeout
        self.heartbeat_ms = heartbeat_ms
        try:
            self.client = Client(engine=engine, control_socket=control_socket, netns=netns,
                                 serializer="raw", **kw)
        except OSError as e:    # no route to the engine: its port is not up
            raise ChannelLayerUnavailable("taskwire channel layer: engine %s: %s"
                                          % (engine or "$TW_ENGINE", e)) from None
        if self.client.control is None:
            raise ValueError("the taskwire channel layer needs tw-control's socket "
                             "(control_socket, or $TW_SOCKET)")
        self.client.control.timeout = min(self.client.control.timeout, timeout)
        self.client_prefix = uuid.uuid4().hex[:16]
        self.netns = netns
        self.lock = threading.Lock()
        # channel -> deque of (expiry time or None, message); no empty deques kept
        self.buffers = collections.defaultdict(collections.deque)
        self.waiters = collections.defaultdict(collections.deque)   # channel -> futures
        # group -> {our process channel: membership deadline (time.time())}
        self.local_groups = collections.defaultdict(dict)
        self.named_members = {}     # (group, named channel) -> deadline, added here
        self.declared = set()       # queues and exchanges known to exist
        self.queue_caps = {}        # queues this instance consumes -> their capacity
        self.bindings = set()       # (exchange, queue) bound by this instance
        self.subscribed = []        # queues this instance consumes
        self.consumer = None
        self.engine_gone = None     # why, while the engine is known to be gone
        self.restoring = threading.Lock()
        self.closed = threading.Event()
        self.next_sweep = float("inf")     # the earliest membership deadline
        self.stats_ = collections.Counter()
        self.next_buffer_sweep = 0.0

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

    def _control_sync(self, fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except ControlError as e:
            if isinstance(e.__cause__, OSError):
                raise ChannelLayerUnavailable(
                    "taskwire channel layer: tw-control is not reachable (%s)" % e) from None
            raise

    async def _control(self, fn, *args, **kw):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: self._control_sync(fn, *args, **kw))

    def _queue_declare_sync(self, queue, capacity):
        # remote: the queue is remote consumers' from its declaration, so a
        # named channel keeps what is sent to it before its first receiver
        # (the engine's own lcores do not know channel messages)
        self._control_sync(self.client.control.queue_declare, queue, max_length=capacity,
                           overflow="reject-publish", message_ttl=int(self.expiry * 1000),
                           remote=True)

    def _exchange_declare_sync(self, exchange):
        from .._proto import control
        self._control_sync(self.client.control.call, control.Request(
            exchange_declare=control.ExchangeDeclare(name=exchange, type="fanout")))

    def _bind_sync(self, exchange, queue, unbind=False):
        from .._proto import control
        b = control.Bind(source=exchange, destination=queue, routing_key="")
        req = control.Request(unbind=b) if unbind else control.Request(bind=b)
        try:
            self._control_sync(self.client.control.call, req)
        except ControlError:
            if not unbind:
                raise       # an unbind of what is not bound is fine (discard twice)

    async def _declare_queue(self, queue, capacity):
        if queue in self.declared:
            return
        await self._control(self._queue_declare_sync, queue, capacity)
        self.declared.add(queue)

    async def _declare_exchange(self, exchange):
        if exchange in self.declared:
            return
        await self._control(self._exchange_declare_sync, exchange)
        self.declared.add(exchange)

    async def _bind(self, exchange, queue, unbind=False):
        if unbind:
            self.bindings.discard((exchange, queue))
        elif (exchange, queue) in self.bindings:
            return
        await self._control(self._bind_sync, exchange, queue, unbind)
        if not unbind:
            self.bindings.add((exchange, queue))

    async def _consume(self, queue, capacity):
        """Make sure this instance consumes queue (one subscription, its
        queues growing as channels are received on)."""
        self.queue_caps[queue] = capacity
        if queue in self.subscribed:
            return
        self.subscribed.append(queue)
        loop = asyncio.get_running_loop()
        if self.consumer is None:
            try:
                c = _LayerConsumer(self.client.engine, self.subscribed, prefetch=256,
                                   name="channels@" + self.client_prefix,
                                   netns_name=self.netns, heartbeat_ms=self.heartbeat_ms,
                                   on_forgotten=self._forgotten, on_silent=self._silent,
                                   on_back=self._back)
            except OSError as e:    # no route to the engine: its port is not up
                self.subscribed.remove(queue)
                raise ChannelLayerUnavailable("taskwire channel layer: engine %s: %s"
                                              % (self.client.engine, e)) from None
            c.on_delivery = self._drain
            self.consumer = c
            try:
                await loop.run_in_executor(None, c.start, min(5.0, self.timeout))
            except TimeoutError as e:
                self.consumer = None
                self.subscribed.remove(queue)
                c.close()
                raise ChannelLayerUnavailable("taskwire channel layer: %s" % e) from None
        else:
            self.consumer.queues = list(self.subscribed)
            # the same consumer id again: its queues are replaced, deliveries stay valid
            self.consumer._send(self.consumer._subscribe_frame())

    # -- the engine going away and coming back (the consumer's threads) -------------

    def _silent(self, quiet):
        why = ("taskwire channel layer: the engine at %s has not answered for %.1f s "
               "(%d heartbeat intervals)" % (self.client.engine, quiet, MISSED_HEARTBEATS))
        log.warning("%s; receives fail until it is back", why)
        self.stats_["engine_lost"] += 1
        with self.lock:
            self.engine_gone = why
            waiting = [w for ws in self.waiters.values() for w in ws]
            self.waiters.clear()
        for loop, fut in waiting:
            loop.call_soon_threadsafe(
                lambda f=fut: f.done() or f.set_exception(ChannelLayerUnavailable(why)))

    def _back(self):
        if self.restoring.locked():
            return      # the restore clears it when done
        with self.lock:
            self.engine_gone = None

    def _forgotten(self, detail):
        """The engine answered this consumer with a refusal: it restarted
        (or dropped us). Declare what this instance had again and subscribe
        again, from a thread of its own (tw-control's socket blocks)."""
        if self.closed.is_set() or not self.restoring.acquire(blocking=False):
            return
        log.info("taskwire channel layer: engine %s forgot this consumer (%s); restoring",
                 self.client.engine, detail)
        threading.Thread(target=self._restore, daemon=True, name="taskwire-channels-restore").start()

    def _restore(self):
        try:
            backoff = 0.1
            while not self.closed.is_set():
                try:
                    self._restore_once()
                    break
                except (TaskwireError, TimeoutError) as e:
                    log.info("taskwire channel layer: restore: %s; again in %.1f s", e, backoff)
                    self.closed.wait(backoff)
                    backoff = min(backoff * 2, RESTORE_BACKOFF_MAX_S)
        finally:
            self.restoring.release()

    def _restore_once(self):
        self.declared.clear()
        for q, cap in list(self.queue_caps.items()):
            self._queue_declare_sync(q, cap)
            self.declared.add(q)
        for ex, q in list(self.bindings):
            if ex not in self.declared:
                self._exchange_declare_sync(ex)
                self.declared.add(ex)
            self._bind_sync(ex, q)
        c = self.consumer
        if c is None:
            return
        c.subscribed.clear()
        deadline = time.monotonic() + 5.0
        while not c.subscribed.is_set():
            if self.closed.is_set():
                return
            if time.monotonic() > deadline:
                c.subscribed.set()      # a later refusal brings us back here
                raise TimeoutError("no answer to the new subscription")
            c._send(c._subscribe_frame())
            c.subscribed.wait(0.3)
        with self.lock:
            self.engine_gone = None
        self.stats_["restored"] += 1
        log.info("taskwire channel layer: engine %s back; queues, bindings and subscription "
                 "restored", self.client.engine)

    # -- delivery (the consumer's receive thread) -----------------------------------

    def _drain(self):
        c = self.consumer
        if c is None:
            return
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
            # another publisher's task on our queue, or a damaged envelope:
            # dropped and counted, never the end of the receive thread
            if not (isinstance(env, dict) and isinstance(env.get("m"), dict) and
                    isinstance(env.get("c", env.get("g")), str) and
                    isinstance(env.get("x", 0), (int, float))):
                self.stats_["undecodable"] += 1
                continue
            now = time.time()
            if env.get("x") and now > env["x"]:
                self.stats_["expired"] += 1
                continue
            if env.get("g") is not None:
                queue = d.queue
                if queue.startswith(self.prefix + ".n."):
                    targets = [queue[len(self.prefix) + 3:]]
                    deadline = self.named_members.get((env["g"], targets[0]))
                    if deadline is not None and deadline <= now:
                        # its membership (added here) expired; the binding goes at the sweep
                        self.stats_["group_expired_dropped"] += 1
                        continue
                else:
                    targets = self._members_now(env["g"], now)
            else:
                targets = [env["c"]]
            for ch in targets:
                self._put(ch, env["m"], env.get("x"))
            self._sweep_buffers(now)

    def _members_now(self, group, now):
        """This process's members of group, less those whose membership
        expired (dropped here; the binding goes at the next sweep)."""
        with self.lock:
            members = self.local_groups.get(group)
            if not members:
                return []
            expired = [ch for ch, deadline in members.items() if deadline <= now]
            for ch in expired:
                del members[ch]
            self.stats_["group_expired"] += len(expired)
            return list(members)

    def _put(self, channel, message, expires=None):
        with self.lock:
            waiting = self.waiters.get(channel)
            while waiting:
                loop, fut = waiting.popleft()
                if not fut.done():
                    loop.call_soon_threadsafe(
                        lambda f=fut, m=message: f.done() or f.set_result(m))
                    if not waiting:
                        del self.waiters[channel]
                    return
            self.waiters.pop(channel, None)
            buf = self.buffers[channel]
            if len(buf) >= self.get_capacity(channel):
                self.stats_["buffer_full"] += 1
                return
            buf.append((expires, message))
            self.stats_["buffered"] += 1

    def _sweep_buffers(self, now, every_s=1.0):
        """Drop expired buffered messages and forget empty buffers (at most
        once every every_s): channels nobody receives on cost nothing
        after `expiry`."""
        if now < self.next_buffer_sweep:
            return
        self.next_buffer_sweep = now + every_s
        with self.lock:
            for channel in list(self.buffers):
                buf = self.buffers[channel]
                kept = [e for e in buf if e[0] is None or e[0] >= now]
                if len(kept) != len(buf):
                    self.stats_["expired"] += len(buf) - len(kept)
                    buf.clear()
                    buf.extend(kept)
                if not buf:
                    del self.buffers[channel]

    def _take(self, channel, now):
        """The oldest unexpired message buffered for channel, or None
        (caller holds the lock)."""
        buf = self.buffers.get(channel)
        message = None
        while buf:
            expires, m = buf.popleft()
            if expires is None or expires >= now:
                message = m
                break
            self.stats_["expired"] += 1
        if buf is not None and not buf:
            del self.buffers[channel]
        return message

    # -- group_expiry ------------------------------------------------------------

    async def _sweep(self):
        """Unbind what expired memberships leave unused: named channels
        this instance added, and groups none of whose process members is
        left. Work only once the earliest membership deadline has passed."""
        now = time.time()
        if now < self.next_sweep:
            return
        unbind = []
        for (group, ch), deadline in list(self.named_members.items()):
            binding = (self._exchange_of(group), self._queue_of(ch))
            if deadline <= now and binding in self.bindings:
                # the deadline stays: copies already routed are dropped on arrival
                self.stats_["group_expired"] += 1
                unbind.append(binding)
        pq = self._process_queue()
        with self.lock:
            for group, members in list(self.local_groups.items()):
                expired = [ch for ch, deadline in members.items() if deadline <= now]
                for ch in expired:
                    del members[ch]
                self.stats_["group_expired"] += len(expired)
                if not members:
                    del self.local_groups[group]
                    if (self._exchange_of(group), pq) in self.bindings:
                        unbind.append((self._exchange_of(group), pq))
            deadlines = [d for members in self.local_groups.values() for d in members.values()]
        deadlines.extend(d for (group, ch), d in self.named_members.items()
                         if (self._exchange_of(group), self._queue_of(ch)) in self.bindings
                         and (self._exchange_of(group), self._queue_of(ch)) not in unbind)
        self.next_sweep = min(deadlines, default=float("inf"))
        for ex, q in unbind:
            await self._bind(ex, q, unbind=True)

    # -- the specification ---------------------------------------------------------

    async def new_channel(self, prefix="specific"):
        name = "%s.%s!%s" % (prefix, self.client_prefix, uuid.uuid4().hex)
        self.valid_channel_name(name)
        q = self._process_queue()
        await self._declare_queue(q, self.capacity)
        await self._consume(q, self.capacity)
        return name

    async def send(self, channel, message):
        assert isinstance(message, dict), "message is not a dict"
        self.valid_channel_name(channel)
        await self._sweep()
        data = self._pack({"c": channel, "m": message})
        queue = self._queue_of(channel)
        named = "!" not in channel
        if named:
            await self._declare_queue(queue, self._capacity_of(channel))
        try:
            await self._publish(data, channel, queue=queue)
        except TaskRejected as e:
            if not (named and e.reason in ("unroutable", "unknown-exchange")):
                raise
            # the engine lost the queue (it restarted): declared again, sent once more
            self.declared.discard(queue)
            await self._declare_queue(queue, self._capacity_of(channel))
            await self._publish(data, channel, queue=queue)

    async def _publish(self, data, what, **route):
        r = self.client.publish(MESSAGE_TASK, (data,), ignore_result=True, expires=self.expiry,
                                **route)
        try:
            await r.aconfirm(timeout=self.timeout)
        except TaskRejected as e:
            if e.reason == "queue-full":
                raise ChannelFull(what) from None
            raise
        except (EngineUnreachable, ResultTimeout):
            raise ChannelLayerUnavailable(
                "taskwire channel layer: the engine at %s did not confirm a message to %s "
                "within %.3g s" % (self.client.engine, what, self.timeout)) from None

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
            await self._consume(q, self._capacity_of(channel))
        await self._sweep()
        loop = asyncio.get_running_loop()
        with self.lock:
            message = self._take(channel, time.time())
            if message is not None:
                return message
            if self.engine_gone is not None:
                raise ChannelLayerUnavailable(self.engine_gone)
            fut = loop.create_future()
            self.waiters[channel].append((loop, fut))
        try:
            return await fut
        finally:
            if not fut.done():
                fut.cancel()
            if fut.cancelled():
                # a cancelled receive (its consumer went away) leaves nothing behind
                with self.lock:
                    waiting = self.waiters.get(channel)
                    if waiting is not None:
                        try:
                            waiting.remove((loop, fut))
                        except ValueError:
                            pass
                        if not waiting:
                            del self.waiters[channel]

    async def group_add(self, group, channel):
        self.valid_group_name(group)
        self.valid_channel_name(channel)
        await self._sweep()
        exchange = self._exchange_of(group)
        await self._declare_exchange(exchange)
        queue = self._queue_of(channel)
        deadline = time.time() + self.group_expiry
        self.next_sweep = min(self.next_sweep, deadline)
        if "!" not in channel:
            await self._declare_queue(queue, self._capacity_of(channel))
            self.named_members[(group, channel)] = deadline
        else:
            with self.lock:
                self.local_groups[group][channel] = deadline
        await self._bind(exchange, queue)

    async def group_discard(self, group, channel):
        self.valid_group_name(group)
        self.valid_channel_name(channel)
        queue = self._queue_of(channel)
        if "!" in channel:
            with self.lock:
                members = self.local_groups.get(group, {})
                members.pop(channel, None)
                if members:
                    return      # other channels of this process still need the binding
        else:
            self.named_members.pop((group, channel), None)
        await self._bind(self._exchange_of(group), queue, unbind=True)

    async def group_send(self, group, message):
        assert isinstance(message, dict), "message is not a dict"
        self.valid_group_name(group)
        await self._sweep()
        data = self._pack({"g": group, "m": message})
        try:
            await self._publish(data, group, exchange=self._exchange_of(group), routing_key="")
        except (ChannelFull, TaskRejected):
            pass        # an empty group, or full members: their copies are dropped

    async def flush(self):
        """Remove every queue and exchange of this layer's prefix, and what
        this instance holds."""
        # whole listings first, then the deletes: exchanges page by position,
        # which a delete shifts
        for q in await self._list_all("QUEUES", "queues"):
            if q.name.startswith(self.prefix + "."):
                await self._control(self.client.control.queue_delete, q.name)
        from .._proto import control
        for e in await self._list_all("EXCHANGES", "exchanges"):
            if e.name.startswith(self.prefix + "."):
                await self._control(self.client.control.call, control.Request(
                    exchange_delete=control.ExchangeDelete(name=e.name)))
        with self.lock:
            self.buffers.clear()
            self.local_groups.clear()
        self.named_members.clear()
        self.next_sweep = float("inf")
        self.declared.clear()
        self.bindings.clear()

    async def close(self):
        self.closed.set()
        if self.consumer is not None:
            self.consumer.cancel()
            self.consumer.close()
            self.consumer = None
        try:
            await self._control(self.client.control.queue_delete, self._process_queue())
        except (ControlError, ChannelLayerUnavailable):
            pass
        self.client.close()

    def stats(self):
        return dict(self.stats_)

    async def _list_all(self, what, field):
        """Every queue or exchange, page by page: the engine holds 65,536 of
        each, more than one control reply carries."""
        items, start = [], 0
        while True:
            page = await self._control(self.client.control.call, _list_request(what, start))
            items.extend(getattr(page, field))
            # bounded: each page moves start forward
            if not page.list_more or page.list_next <= start:
                return items
            start = page.list_next


_LIST_PAGE = 2048


def _list_request(what, start=0):
    from .._proto import control
    return control.Request(list=control.ListRequest(
        what=control.ListRequest.What.Value(what), start=start, limit=_LIST_PAGE))


__all__ = ["TaskwireChannelLayer", "ChannelFull", "ChannelLayerUnavailable"]
