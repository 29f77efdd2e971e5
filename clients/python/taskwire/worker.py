"""The Python worker: runs an App's tasks as a remote consumer of the
engine's queues (proto/taskwire.proto, "Remote consumers").

    python3 -m taskwire worker -A myshop -Q default,emails -P threads -c 4

Consumer speaks the protocol: one UDP socket, a subscription with a
credit window (prefetch = concurrency x prefetch multiplier), heartbeats
from a thread of its own (a long task does not look like a dead worker),
acks resent until the engine answers them, and a new subscription when
the engine has forgotten this consumer. The engine keeps the in-flight
table: if this process dies, its unacked tasks go to another consumer
with delivery_count + 1.

Worker runs deliveries on a pool: solo (this thread), threads (-c N
threads), prefork (-c N child processes, prefork.py: hard time limits,
a crashed child's task requeued) or asyncio (-c N coroutines in one
process, aio_pool.py). Soft time limits (SIGALRM) hold in solo and
prefork; asyncio cancels. SIGTERM or SIGINT: warm shutdown (running
tasks finish and are acked, prefetched ones go back to their queues); a
second one: cold (exit now; the engine redelivers what was running).
"""
import collections
import json
import logging
import os
import queue
import reprlib
import random
import signal
import socket
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from . import cookie, fragment, keys, netns
from ._proto import FRAME_MAGIC, FRAME_VERSION, wire
from .app import Context, Retry, SoftTimeLimitExceeded

log = logging.getLogger("taskwire.worker")

ACK_RESEND_S = 0.3
# Tags of final acks the engine answered lately: a refusal that comes after
# (the answer to a resend made while the first answer was on its way) says
# nothing new, and is counted rather than warned about
ANSWERED_KEPT = 4096
RECV_BYTES = 65536
# Above this an ack would be over what the engine takes by default (a frame
# of 1 MiB and 64 kB, sent in fragments): the result is replaced by a
# FAILURE that says so
MAX_VALUE_BYTES = (1 << 20) + 32768

OUTCOME = {"SUCCESS": wire.ACK_SUCCESS, "FAILURE": wire.ACK_FAILURE, "RETRY": wire.ACK_RETRY,
           "PROGRESS": wire.ACK_PROGRESS, "REJECT": wire.ACK_REJECT}


class SubscribeRefused(Exception):
    """The engine refused the subscription (its reason is the message)."""


class Consumer:
    def __init__(self, engine, queues, prefetch=1, lease_ms=0, heartbeat_ms=1000,
                 name=None, netns_name=None, hold=True, key_file=None, key_id=None):
        """key_file, key_id: sign every frame (subscribe, heartbeats, acks,
        cancel) for an engine started with --keys, as the Client does
        (default: $TW_KEY_FILE, $TW_KEY_ID); the engine then takes this
        consumer's frames only under that key."""
        host, _, port = engine.rpartition(":")
        self.addr = (host, int(port))
        self.queues = list(queues)
        self.prefetch = prefetch
        self.lease_ms = lease_ms
        self.heartbeat_ms = heartbeat_ms
        # hold: the queues stay remote consumers' while no worker is
        # subscribed (the engine's lcores do not know Python tasks)
        self.hold = hold
        self.hostname = socket.gethostname()
        self.name = name or "python@%s" % self.hostname
        self.id = random.getrandbits(64) | 1
        with netns.entered(netns_name):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # a large delivery is hundreds of datagrams at once
        for opt in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
            try:
                if opt is not None:
                    self.sock.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
                    break
            except OSError:
                continue
        self.sock.connect(self.addr)
        self.sock.settimeout(0.2)
        self.reassembler = fragment.Reassembler()
        self.deliveries = queue.Queue()
        self.on_delivery = None     # called (receive thread) after a delivery is queued
        self.lock = threading.Lock()
        self.unanswered = {}        # delivery tag -> (bytes sent, last sent time)
        self.answered = collections.OrderedDict()   # tags answered lately, oldest first
        self.resent = set()         # unanswered tags whose ack went out again
        self.frame_id = 0
        self.cookie = cookie.CookieJar()    # the engine's source cookie for us
        key_file = key_file or os.environ.get("TW_KEY_FILE")
        self.key = None
        if key_file:
            key_id = int(key_id if key_id is not None else os.environ.get("TW_KEY_ID", "0"))
            self.key = (key_id, keys.load_key(key_file, key_id))
        self.subscribed = threading.Event()
        # set by cancel(): the engine's "unknown consumer" to a heartbeat
        # sent after it is the cancel's doing, not a reason to subscribe
        # again (which would bring the consumer back after its close)
        self.cancelled = threading.Event()
        self.refusal = None
        self.granted = None
        self.stop = threading.Event()
        self.stats = {"deliveries": 0, "acks": 0, "acks_refused": 0, "ack_resends": 0,
                      "heartbeats": 0, "resubscribes": 0}
        self.threads = [threading.Thread(target=self._receive_loop, daemon=True,
                                         name="taskwire-recv"),
                        threading.Thread(target=self._heartbeat_loop, daemon=True,
                                         name="taskwire-heartbeat")]

    # -- sending ---------------------------------------------------------------

    def _seal(self, data):
        """A kept frame as it goes out: with a key, stamped (key_id, sent_us)
        at each send, so that a resent ack is a new frame to the engine's
        replay check; the cookie (or padding); the MAC last."""
        if self.key is None:
            return self.cookie.seal(data)
        stamp = wire.Frame(key_id=self.key[0], sent_us=time.time_ns() // 1000)
        return keys.sign(self.cookie.seal(data + stamp.SerializeToString()), self.key[1])

    def _send(self, frame):
        with self.lock:
            self.frame_id += 1
            frame.frame_id = self.frame_id
        frame.magic = FRAME_MAGIC
        frame.version = FRAME_VERSION
        data = frame.SerializeToString()
        self._send_bytes(data)
        return data     # kept without the cookie: a resend adds the current one

    def _send_bytes(self, data):
        """With the current cookie: one datagram, or the pieces of a large
        frame (an ack with a large result) under its frame id, so that a
        resend fills in gaps; each piece carries the cookie too (the engine
        checks it before it keeps any piece)."""
        try:
            sealed = self._seal(data)
            for d in fragment.split(sealed, fragment.frame_id_of(sealed),
                                    fragment.frame_id_of(sealed), seal=self.cookie.seal):
                self.sock.send(d)
        except OSError:
            # an ICMP from an engine not up yet, or no route while a
            # restarting engine's port is gone: the resend, the next
            # heartbeat or subscription covers it (raising here would end
            # the heartbeat thread for good)
            self.stats["send_errors"] = self.stats.get("send_errors", 0) + 1

    def _subscribe_frame(self):
        f = wire.Frame()
        s = f.subscribe
        s.consumer_id = self.id
        s.name = self.name
        s.host = self.hostname
        s.queues.extend(self.queues)
        s.prefetch = self.prefetch
        s.lease_ms = self.lease_ms
        s.heartbeat_ms = self.heartbeat_ms
        s.hold = self.hold
        return f

    def start(self, timeout=5.0):
        """Subscribe and start the receive and heartbeat threads. Raises
        SubscribeRefused, or TimeoutError when the engine does not answer."""
        self.threads[0].start()
        deadline = time.monotonic() + timeout
        while not self.subscribed.is_set() and self.refusal is None:
            if time.monotonic() >= deadline:
                raise TimeoutError("no answer from the engine at %s:%d to a subscription"
                                   % self.addr)
            self._send(self._subscribe_frame())
            self.subscribed.wait(0.3)
        if self.refusal is not None:
            raise SubscribeRefused(self.refusal)
        self.threads[1].start()

    def ack(self, tag, outcome, value=b"", error="", countdown_ms=0, max_retries=0,
            runtime_ns=0, requeue=False):
        """Ack a delivery. Final outcomes are resent until the engine answers;
        PROGRESS is sent once (the next one, or the final ack, follows)."""
        f = wire.Frame()
        a = f.acks.add()
        a.delivery_tag = tag
        a.outcome = OUTCOME[outcome]
        a.value = value
        a.error = error
        a.countdown_ms = int(countdown_ms)
        a.max_retries = max_retries
        a.runtime_ns = runtime_ns
        a.requeue = requeue
        if outcome == "PROGRESS":
            self._send(f)
        else:
            # waiting for its answer before it goes: a quick refusal must
            # find it (else it is taken for news, and the resend refused again)
            with self.lock:
                self.unanswered[tag] = (None, time.monotonic())
            data = self._send(f)
            with self.lock:
                if tag in self.unanswered:
                    self.unanswered[tag] = (data, self.unanswered[tag][1])
        self.stats["acks"] += 1

    def cancel(self):
        """End the subscription: the engine puts unacked deliveries back.
        No heartbeat and no new subscription follow it."""
        self.cancelled.set()
        f = wire.Frame()
        f.cancel.consumer_id = self.id
        self._send(f)

    def drain_acks(self, timeout=2.0):
        """Wait (bounded) until every final ack was answered. @return True if all were."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self.unanswered:
                    return True
            time.sleep(0.02)
        return False

    def close(self):
        self.stop.set()
        for t in self.threads:
            if t.is_alive():
                t.join(timeout=2)
        self.sock.close()

    # -- receiving -----------------------------------------------------------------

    def _receive_loop(self):
        while not self.stop.is_set():
            try:
                data = self.sock.recv(RECV_BYTES)
            except socket.timeout:
                self._resend_acks()
                continue
            except OSError:
                if self.stop.is_set() or self.sock.fileno() < 0:
                    return      # closed
                # an ICMP error queued on the socket (the engine's port gone
                # while it restarts): reported once, the next recv waits again
                continue
            f = wire.Frame()
            try:
                f.ParseFromString(data)
            except Exception:  # noqa: BLE001 - a damaged datagram is dropped, counted
                self.stats["bad_datagrams"] = self.stats.get("bad_datagrams", 0) + 1
                continue
            if f.magic != FRAME_MAGIC:
                continue
            if f.HasField("fragment"):
                # a piece of a large delivery: handled when the whole is in
                whole = self.reassembler.take(f.fragment)
                if whole is None:
                    continue
                try:
                    f = wire.Frame.FromString(whole)
                except Exception:  # noqa: BLE001 - counted, as a damaged datagram
                    self.stats["bad_datagrams"] = self.stats.get("bad_datagrams", 0) + 1
                    continue
            try:
                self._handle(f)
            except Exception:  # noqa: BLE001 - one frame's failure must not end the thread
                self.stats["handler_errors"] = self.stats.get("handler_errors", 0) + 1
                if self.stats["handler_errors"] <= 3:
                    log.exception("taskwire consumer %016x: a frame's handling failed "
                                  "(counted handler_errors; the receive thread goes on)",
                                  self.id)
            self._resend_acks()

    def _handle(self, f):
        self.cookie.take(f)
        if cookie.asked(f):
            # refused whole for want of the cookie, which came with it: what
            # the frame may have held goes again (acks are due at once, the
            # next heartbeat carries it)
            self.stats["cookie_retries"] = self.stats.get("cookie_retries", 0) + 1
            if not self.subscribed.is_set():
                self._send(self._subscribe_frame())
            with self.lock:
                for t, (d, _) in list(self.unanswered.items()):
                    self.unanswered[t] = (d, 0.0)
            return
        if not self.subscribed.is_set():
            # refused whole before it was read (an engine with --keys: the
            # MAC missing or wrong): the subscription cannot succeed
            for c in f.confirms:
                if c.task_id == 0 and not c.ack and c.reason == wire.NACK_ACCESS_REFUSED:
                    self.refusal = c.detail or "access refused"
                    return
        for r in f.consumers:
            if r.consumer_id != self.id:
                continue
            if r.ok:
                self.granted = (r.prefetch, r.lease_ms, r.heartbeat_ms)
                self.subscribed.set()
            elif self.subscribed.is_set() and not self.cancelled.is_set():
                # forgotten (silent too long, or a restarted engine): subscribe again
                self.stats["resubscribes"] += 1
                self._send(self._subscribe_frame())
            else:
                self.refusal = r.detail or "refused"
        for d in f.deliveries:
            self.stats["deliveries"] += 1
            with self.lock:     # a tag the engine gives again is a new delivery's
                self.answered.pop(d.delivery_tag, None)
            self.deliveries.put(d)
        if f.deliveries and self.on_delivery is not None:
            self.on_delivery()
        for r in f.ack_replies:
            with self.lock:
                pending = self.unanswered.pop(r.delivery_tag, None)
                was_resent = r.delivery_tag in self.resent
                self.resent.discard(r.delivery_tag)
                # refusals too: an ack resent before its refusal came is
                # refused again, and that second answer is not news
                if pending is not None:
                    self.answered[r.delivery_tag] = r.ok
                    if len(self.answered) > ANSWERED_KEPT:
                        self.answered.popitem(last=False)
                repeat = pending is None and r.delivery_tag in self.answered
                # the first answer lost, the resend's says the tag is spent:
                # the ack was taken (a tag never given is "unknown")
                repeat = repeat or (pending is not None and was_resent
                                    and (r.detail or "").startswith("stale delivery tag"))
            if r.ok:
                continue
            if repeat:
                self.stats["acks_resent_refused"] = self.stats.get("acks_resent_refused", 0) + 1
                continue
            self.stats["acks_refused"] += 1
            log.warning("ack of delivery %x refused: %s", r.delivery_tag, r.detail)

    def _resend_acks(self):
        now = time.monotonic()
        with self.lock:
            due = [(t, d) for t, (d, sent) in self.unanswered.items()
                   if d is not None and now - sent >= ACK_RESEND_S]
            for t, d in due:
                self.unanswered[t] = (d, now)
                self.resent.add(t)
        for _, d in due:
            self.stats["ack_resends"] += 1
            try:
                self._send_bytes(d)
            except OSError:
                pass

    def _heartbeat_loop(self):
        interval = (self.granted[2] if self.granted and self.granted[2] else self.heartbeat_ms)
        while not self.stop.wait(interval / 1000.0):
            if self.cancelled.is_set():
                return
            f = wire.Frame()
            f.heartbeat.consumer_id = self.id
            self._send(f)
            self.stats["heartbeats"] += 1


def parse_rate(rate):
    """Celery's rate strings: "10/s", "100/m", "1000/h", or a number (per
    second). @return tasks per second, or None for no limit."""
    if rate in (None, "", 0, "0"):
        return None
    if isinstance(rate, (int, float)):
        return float(rate)
    count, _, unit = str(rate).partition("/")
    per = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}.get(unit.strip())
    if per is None:
        raise ValueError("rate limit %r: N/s, N/m or N/h" % rate)
    return float(count) / per


class RateLimiter:
    """A token bucket per task name: this worker starts at most `rate`
    tasks of a name a second (bursts of one second's worth), as Celery's
    per-worker rate_limit. Waiting happens before a task is handed to the
    pool, so it holds for every pool alike."""

    def __init__(self):
        self.buckets = {}       # name -> [tokens, last refill]

    def wait(self, name, rate, stop):
        tokens, last = self.buckets.get(name, (max(1.0, rate), time.monotonic()))
        while True:
            now = time.monotonic()
            tokens = min(max(1.0, rate), tokens + (now - last) * rate)
            last = now
            if tokens >= 1.0 or stop.is_set():
                self.buckets[name] = [tokens - 1.0, last]
                return
            stop.wait((1.0 - tokens) / rate)


def _decode_args(data):
    """The JSON serializer's encoding: an array of args or an object of kwargs."""
    if not data:
        return (), {}
    v = json.loads(data)
    if isinstance(v, dict):
        return (), v
    if isinstance(v, list):
        return tuple(v), {}
    return (v,), {}


def _describe(exc, how=str):
    """str(exc) (or repr), or a stand-in when the exception's own method
    raises: the task's outcome must still be acked (an exception escaping
    here would leave its delivery unacked, to be run again and again)."""
    try:
        return how(exc)
    except Exception:  # noqa: BLE001 - whatever the task's class does
        return "<%s: %s() failed>" % (type(exc).__name__, how.__name__)


def _failure_text(exc):
    return "%s: %s\n%s" % (type(exc).__name__, _describe(exc),
                          "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


class Worker:
    def __init__(self, app, queues, pool="threads", concurrency=None, prefetch_multiplier=4,
                 engine=None, lease_ms=0, heartbeat_ms=1000, hostname=None, netns_name=None,
                 max_tasks_per_child=None):
        if pool not in ("solo", "threads", "prefork", "asyncio"):
            raise ValueError("pool %r: prefork, threads, solo or asyncio" % pool)
        self.max_tasks_per_child = max_tasks_per_child
        self.app = app
        self.queues = list(queues)
        self.pool = pool
        self.concurrency = 1 if pool == "solo" else (concurrency or os.cpu_count() or 1)
        self.prefetch = max(1, self.concurrency * prefetch_multiplier)
        self.hostname = hostname or "python@%s" % socket.gethostname()
        engine = engine or app.engine_address()
        if not engine:
            raise ValueError("no engine address: --engine IP:PORT, app.conf.engine or $TW_ENGINE")
        self.consumer = Consumer(engine, self.queues, prefetch=self.prefetch, lease_ms=lease_ms,
                                 heartbeat_ms=heartbeat_ms, name=self.hostname,
                                 netns_name=netns_name)
        self.shutdown = threading.Event()
        self.cold = False
        self.running = 0
        self.done = 0
        self.run_lock = threading.Lock()
        self.rates = RateLimiter()
        for t in app.tasks.values():        # a bad rate is said at start, not mid-run
            parse_rate(t.rate_limit)

    # -- one delivery ------------------------------------------------------------

    def prepare(self, d):
        """What running delivery d needs: (task, args, kwargs, request), or
        None when d was acked already (an unknown task, args that do not
        decode)."""
        c = self.consumer
        t = d.task
        task = self.app.tasks.get(t.name)
        tid = "%016x" % t.id
        if task is None:
            log.error("Received unregistered task of type %r [%s]: rejected", t.name, tid)
            c.ack(d.delivery_tag, "REJECT", error="unknown task %s on %s" % (t.name, self.hostname))
            return None
        try:
            args, kwargs = _decode_args(d.args if d.has_args else t.args)
        except ValueError as e:
            c.ack(d.delivery_tag, "FAILURE", error="args do not decode as JSON: %s" % e)
            return None
        log.info("Task %s[%s] received", t.name, tid)

        def progress(meta):
            c.ack(d.delivery_tag, "PROGRESS", value=json.dumps(meta).encode())
        request = Context(id=tid, args=args, kwargs=kwargs, retries=d.retries,
                          delivery_info={"routing_key": t.routing_key, "exchange": t.exchange,
                                         "queue": d.queue, "redelivered": d.delivery_count > 1},
                          root_id="%016x" % d.root_id if d.root_id else tid,
                          parent_id="%016x" % d.parent_id if d.parent_id else None,
                          eta=t.eta_ms or None, hostname=self.hostname,
                          delivery_count=d.delivery_count, progress=progress)
        return task, args, kwargs, request

    def finish(self, d, task, start, value=None, exc=None):
        """Ack d with the outcome of its run: value, or the exception exc."""
        c = self.consumer
        if isinstance(exc, Retry):
            self._retry(d, task, exc.countdown, exc.exc, start)
            return
        if exc is not None and task.autoretry_for and isinstance(exc, task.autoretry_for):
            if d.retries >= (task.max_retries or 0):
                self._fail(d, task, exc, start)
            else:
                countdown = (task.backoff_countdown(d.retries) if task.retry_backoff
                             else task.default_retry_delay)
                self._retry(d, task, countdown, exc, start)
            return
        if exc is not None:
            self._fail(d, task, exc, start)
            return
        runtime = time.monotonic_ns() - start
        name = d.task.name
        try:
            data = b"" if task.ignore_result and value is None else json.dumps(value).encode()
        except (TypeError, ValueError) as e:
            c.ack(d.delivery_tag, "FAILURE", runtime_ns=runtime,
                  error="result of %s does not serialize as JSON: %s" % (name, e))
            return
        if len(data) > MAX_VALUE_BYTES:
            c.ack(d.delivery_tag, "FAILURE", runtime_ns=runtime,
                  error="result of %s is %d bytes: more than a result may take (%d)"
                  % (name, len(data), MAX_VALUE_BYTES))
            return
        c.ack(d.delivery_tag, "SUCCESS", value=data, runtime_ns=runtime)
        log.info("Task %s[%016x] succeeded in %.4fs: %s", name, d.task.id, runtime / 1e9,
                 reprlib.repr(value))

    def execute(self, d, soft_alarm=None):
        """Run one delivery and ack it with its outcome. soft_alarm: use
        SIGALRM for the soft time limit (this thread must be the main one)."""
        ready = self.prepare(d)
        if ready is None:
            return
        task, args, kwargs, request = ready
        if task.is_coroutine:
            # a coroutine task outside the asyncio pool: its own event loop, here
            import asyncio
            call = lambda: asyncio.run(task.run(*args, **kwargs))  # noqa: E731
        else:
            call = lambda: task.run(*args, **kwargs)  # noqa: E731
        task.push_request(request)
        start = time.monotonic_ns()
        if soft_alarm is None:
            soft_alarm = self.pool == "solo"
        alarm = soft_alarm and task.soft_time_limit
        try:
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, float(task.soft_time_limit))
            value = call()
        except Exception as e:  # noqa: BLE001 - the task's outcome
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
            self.finish(d, task, start, exc=e)
        else:
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
            self.finish(d, task, start, value=value)
        finally:
            task.pop_request()

    def _retry(self, d, task, countdown, exc, start):
        log.info("Task %s[%016x] retry in %ss: %r", task.name, d.task.id, countdown, exc)
        self.consumer.ack(d.delivery_tag, "RETRY", error=_describe(exc, repr) if exc else "retry",
                          countdown_ms=int(float(countdown) * 1000),
                          max_retries=task.max_retries or 0,
                          runtime_ns=time.monotonic_ns() - start)

    def _fail(self, d, task, exc, start):
        text = _failure_text(exc)
        log.error("Task %s[%016x] raised unexpected: %s", task.name, d.task.id, text)
        self.consumer.ack(d.delivery_tag, "FAILURE", error=text[:MAX_VALUE_BYTES],
                          runtime_ns=time.monotonic_ns() - start)

    # -- the loop ----------------------------------------------------------------

    def _on_signal(self, signum, _frame):
        if self.shutdown.is_set():
            log.warning("worker: cold shutdown (signal %d again)", signum)
            self.cold = True
            os._exit(1)
        log.info("worker: warm shutdown (signal %d): running tasks finish", signum)
        self.shutdown.set()

    @staticmethod
    def _on_alarm(_signum, _frame):
        raise SoftTimeLimitExceeded("soft time limit exceeded")

    def run(self, install_signals=True, max_tasks=None):
        """Serve until a signal (or max_tasks deliveries: for tests)."""
        if install_signals and self.pool != "asyncio":
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
            signal.signal(signal.SIGALRM, self._on_alarm)
        self.consumer.start()
        log.info("worker %s ready: queues %s, pool %s, concurrency %d, prefetch %d",
                 self.hostname, ",".join(self.queues), self.pool, self.concurrency,
                 self.prefetch)
        print("taskwire worker: ready (%s, queues %s, pool %s x%d)"
              % (self.hostname, ",".join(self.queues), self.pool, self.concurrency), flush=True)
        if self.pool == "asyncio":
            from .aio_pool import run_asyncio
            taken = run_asyncio(self, max_tasks)
            log.info("worker %s stopped after %d tasks", self.hostname, taken)
            return
        pool = ThreadPoolExecutor(self.concurrency) if self.pool == "threads" else None
        forks = None
        if self.pool == "prefork":
            from .prefork import PreforkPool
            forks = self.forks = PreforkPool(self, self.concurrency, self.max_tasks_per_child)
        slots = threading.Semaphore(self.concurrency)
        taken = 0
        try:
            while not self.shutdown.is_set() and (max_tasks is None or taken < max_tasks):
                try:
                    d = self.consumer.deliveries.get(timeout=0.2)
                except queue.Empty:
                    if forks is not None:
                        forks.tick()
                    continue
                taken += 1
                task = self.app.tasks.get(d.task.name)
                rate = parse_rate(task.rate_limit) if task is not None else None
                if rate:
                    self.rates.wait(d.task.name, rate, self.shutdown)
                if forks is not None:
                    forks.submit(d, self.shutdown)
                elif pool is None:
                    self.execute(d)
                else:
                    slots.acquire()
                    pool.submit(self._run_slot, d, slots)
        finally:
            if pool is not None:
                pool.shutdown(wait=True)    # running tasks finish and ack
            if forks is not None:
                forks.close()
            # prefetched but not started: back to their queues with the cancel
            self.consumer.cancel()
            self.consumer.drain_acks()
            self.consumer.close()
            log.info("worker %s stopped after %d tasks", self.hostname, taken)

    def _run_slot(self, d, slots):
        try:
            self.execute(d)
        except Exception:  # noqa: BLE001 - a bug here must not kill the pool thread
            log.exception("worker: executing delivery %x", d.delivery_tag)
        finally:
            slots.release()


__all__ = ["Consumer", "Worker", "SubscribeRefused"]
