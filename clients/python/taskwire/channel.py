"""The UDP channel to one engine: frames out, confirms and results in.

One kernel UDP socket connected to the engine address (as libtaskwire
does). Publishing appends tasks to a pending Frame and sends it at once,
or, inside Channel.batch(), when the next task would not fit (max tasks or
bytes: 1400 keeps a datagram unfragmented on a 1500-byte MTU) or when the
batch ends. A receive thread reads confirms and results into TaskRecords,
runs the retransmit timer (retransmit.py) and wakes whoever waits.

Threads: any thread may publish and wait; state is guarded by one lock
(the receive thread holds it only while it applies what arrived).
"""
import collections
import contextlib
import errno
import random
import os
import select
import socket
import threading
import time

from . import cookie, fragment, keys
from ._proto import FRAME_MAGIC, FRAME_VERSION, NACK_NAMES, STATE_NAMES, FINAL_STATES, wire
from .errors import EngineUnreachable, FrameTooLarge, TaskRejected
from .netns import entered as netns_entered
from .records import TaskRecord
from .retransmit import Retransmitter, SentFrame

# magic (5) + version (2) + frame_id (9) + retransmits (2)
FRAME_HEADER_BYTES = 18
RECV_BYTES = 65536
# send/recv errors that mean "nobody answers there (yet)": retransmits and
# the give-up deal with them, as libtaskwire ignores ECONNREFUSED
TRANSIENT_ERRNOS = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH,
                    errno.EAGAIN, errno.ENOBUFS}


def varint_size(n):
    size = 1
    while n >= 0x80:
        n >>= 7
        size += 1
    return size


def field_size(payload_len):
    """Bytes a length-delimited field < 16 takes in its parent."""
    return 1 + varint_size(payload_len) + payload_len


def parse_engine(engine):
    host, sep, port = engine.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("engine address %r is not IP:PORT" % engine)
    return host, int(port)


class Channel:
    def __init__(self, engine, retransmit_ms=200, max_attempts=8, max_frame_bytes=1400,
                 max_tasks_per_frame=32, max_records=100000, rcvbuf_bytes=8 << 20, netns=None,
                 key=None):
        """key: (key_id, key bytes) to sign every frame with (keys.py), or None."""
        self.engine = engine
        self.key = key
        self.max_frame_bytes = max_frame_bytes
        self.max_tasks = max_tasks_per_frame
        self.max_records = max_records
        with netns_entered(netns):      # the socket stays in netns (netns.py)
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf_bytes)
        except OSError:
            pass    # best effort: a small buffer only costs drops under bursts
        self.sock.connect(parse_engine(engine))
        self.reassembler = fragment.Reassembler()
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        # asyncio waiters: task id -> [(loop, future, is_final)], woken by the
        # receive thread (one thread per client, none per waiting task)
        self.async_waiters = {}
        self.cookie = cookie.CookieJar()    # the engine's source cookie for us
        self.retx = Retransmitter(retransmit_ms / 1000.0 if retransmit_ms > 0 else 0,
                                  max_attempts)
        self.records = collections.OrderedDict()  # task id -> TaskRecord, oldest first
        self.history = collections.OrderedDict()  # frame id -> task ids, for frame-level NACKs
        self.errors = {}          # task id -> rejection or give-up not raised yet (get() or
                                  # wait_confirms() raise each once)
        self.unconfirmed = set()  # ids sent and not confirmed (nor given up) yet
        self.stats = collections.Counter()
        self._ids = random.Random(os.urandom(16))
        self._frame_id = self._ids.getrandbits(32) | 1
        self._pending = []        # wire.Task of the frame being filled
        self._pending_bytes = FRAME_HEADER_BYTES
        self._pending_wait_results = True
        self._batch_depth = 0
        self._closed = False
        self._probe()
        self._thread = threading.Thread(target=self._receive_loop, name="taskwire-rx",
                                        daemon=True)
        self._thread.start()

    def _probe(self):
        """Ask the engine for its source cookie before the first publish (as
        libtaskwire does when it opens): a frame with nothing to do, which
        the engine answers with its frame id and a cookie. A process that
        publishes and closes at once (a web view) then has its frame taken
        without the retry round trip. Bounded: 3 tries of 100 ms; no answer
        (an engine not up yet) is no error. A late answer is ignored."""
        frame = wire.Frame(magic=FRAME_MAGIC, version=FRAME_VERSION, frame_id=cookie.PROBE_FRAME_ID)
        if self.key is not None:
            frame.key_id = self.key[0]
            frame.sent_us = time.time_ns() // 1000
        data = frame.SerializeToString()
        for _ in range(3):
            self._send(data)
            end = time.monotonic() + 0.1
            while time.monotonic() < end:
                readable, _, _ = select.select([self.sock], [], [], max(0.0, end - time.monotonic()))
                if not readable:
                    break
                try:
                    f = wire.Frame.FromString(self.sock.recv(RECV_BYTES, socket.MSG_DONTWAIT))
                except Exception:   # noqa: BLE001 - nothing else is expected yet
                    continue
                if f.magic == FRAME_MAGIC and f.frame_id == cookie.PROBE_FRAME_ID:
                    self.cookie.take(f)
                    return

    # -- ids ---------------------------------------------------------------

    def new_id(self):
        """A random non-zero 64-bit task id (the publisher chooses all ids)."""
        while True:
            i = self._ids.getrandbits(64)
            if i:
                return i

    # -- publishing --------------------------------------------------------

    def task_cost(self, task):
        return field_size(task.ByteSize())

    def fits_alone(self, task):
        return FRAME_HEADER_BYTES + self.task_cost(task) <= self.max_frame_bytes

    def submit(self, task, notify_ids=(), serializer=None, wait_results=True):
        """Queue one top-level Task for sending; records are made for its id
        and for notify_ids (workflow steps answered to us, confirmed
        through this task). Sends now unless a batch is open.
        Ownership: takes task (it must not be changed afterwards)."""
        cost = self.task_cost(task)
        # a task larger than a frame travels alone in one, sent in fragments
        large = FRAME_HEADER_BYTES + cost > self.max_frame_bytes
        if FRAME_HEADER_BYTES + cost + 64 > fragment.LIMIT:
            raise FrameTooLarge("task %s (%016x) takes %d bytes; a frame holds at most %d"
                                % (task.name or "group", task.id, cost,
                                   fragment.LIMIT - FRAME_HEADER_BYTES - 64))
        with self.lock:
            if (large or len(self._pending) >= self.max_tasks
                    or self._pending_bytes + cost > self.max_frame_bytes):
                self._flush_locked()
            rec = TaskRecord(task.id, serializer)
            self._add_record(rec)
            if notify_ids:
                rec.dependents = list(notify_ids)
                for nid in notify_ids:
                    self._add_record(TaskRecord(nid, serializer, head=task.id))
            self._pending.append(task)
            self._pending_bytes += cost
            self._pending_wait_results &= wait_results
            if self._batch_depth == 0 or large:
                self._flush_locked()
        return rec

    def _add_record(self, rec):
        self.records[rec.task_id] = rec
        while len(self.records) > self.max_records:
            self.records.popitem(last=False)   # oldest: a later get() asks the store

    @contextlib.contextmanager
    def batch(self):
        """Publish several tasks per frame; the last frame goes at the end."""
        with self.lock:
            self._batch_depth += 1
        try:
            yield
        finally:
            with self.lock:
                self._batch_depth -= 1
                if self._batch_depth == 0:
                    self._flush_locked()

    def flush(self):
        with self.lock:
            self._flush_locked()

    def _flush_locked(self):
        if not self._pending:
            return
        self._frame_id = (self._frame_id + 1) & 0xFFFFFFFFFFFFFFFF or 1
        frame = wire.Frame(magic=FRAME_MAGIC, version=FRAME_VERSION, frame_id=self._frame_id,
                           tasks=self._pending, retransmits=self.retx.enabled())
        if self.key is not None:
            frame.key_id = self.key[0]
            # under the MAC: the engine takes a signed frame once, and only
            # within its replay window of this time
            frame.sent_us = time.time_ns() // 1000
        data = frame.SerializeToString()   # kept as is: each send adds the cookie
        ids = [t.id for t in self._pending]
        wait_results = self._pending_wait_results
        self._pending = []
        self._pending_bytes = FRAME_HEADER_BYTES
        self._pending_wait_results = True
        self.history[self._frame_id] = ids
        if len(self.history) > 4096:
            self.history.popitem(last=False)
        self.unconfirmed.update(ids)
        self.retx.add(SentFrame(self._frame_id, data, ids, wait_results, time.monotonic(),
                                self.retx.rto_s))
        self._send(data)
        self.stats["frames_sent"] += 1
        self.stats["tasks_sent"] += len(ids)

    def _send(self, data):
        """Send a packed frame with the current cookie, signed if we have a key."""
        data = self.cookie.seal(data)
        if self.key is not None:
            data = keys.sign(data, self.key[1])
        try:
            # each piece with the cookie too: the engine checks it before it keeps any
            for d in fragment.split(data, fragment.frame_id_of(data), fragment.frame_id_of(data),
                                    seal=self.cookie.seal):
                self.sock.send(d)
            if len(data) > fragment.DATAGRAM_MAX:
                self.stats["frames_fragmented"] = self.stats.get("frames_fragmented", 0) + 1
        except OSError as e:
            if e.errno not in TRANSIENT_ERRNOS:
                raise
            self.stats["send_errors"] += 1   # the retransmit timer sends it again

    # -- receiving (the receive thread) --------------------------------------

    def _receive_loop(self):
        while not self._closed:
            due = self.retx.next_due()
            timeout = 0.2 if due is None else min(0.2, max(0.0, due - time.monotonic()) + 0.001)
            try:
                readable, _, _ = select.select([self.sock], [], [], timeout)
            except (OSError, ValueError):
                return      # closed under us
            datagrams = []
            if readable:
                for _ in range(1024):   # bounded: what the socket holds now
                    try:
                        datagrams.append(self.sock.recv(RECV_BYTES, socket.MSG_DONTWAIT))
                    except BlockingIOError:
                        break
                    except OSError as e:
                        if self._closed:
                            return
                        if e.errno in TRANSIENT_ERRNOS:
                            continue
                        raise
            with self.lock:
                for d in datagrams:
                    self._apply_datagram(d)
                self._run_retransmits()
                if datagrams:
                    self.changed.notify_all()
                if self.async_waiters:
                    self._wake_async_waiters()

    def add_async_waiter(self, task_id, loop, fut, is_final):
        """Wake fut (on loop) when is_final() holds for task_id's record.
        Caller holds the lock."""
        if is_final():
            fut.set_result(None)
            return
        self.async_waiters.setdefault(task_id, []).append((loop, fut, is_final))

    def _wake_async_waiters(self):
        for tid in list(self.async_waiters):
            left = []
            for loop, fut, is_final in self.async_waiters[tid]:
                if fut.done():
                    continue        # cancelled or timed out meanwhile
                if is_final():
                    loop.call_soon_threadsafe(lambda f=fut: f.done() or f.set_result(None))
                else:
                    left.append((loop, fut, is_final))
            if left:
                self.async_waiters[tid] = left
            else:
                del self.async_waiters[tid]

    def _apply_datagram(self, data):
        self.stats["datagrams_received"] += 1
        try:
            f = wire.Frame.FromString(data)
        except Exception:       # not ours or truncated: counted, never fatal
            self.stats["bad_datagrams"] += 1
            return
        if f.magic != FRAME_MAGIC:
            self.stats["bad_datagrams"] += 1
            return
        if f.HasField("fragment"):
            # a piece of a large reply: decoded when the whole is in
            whole = self.reassembler.take(f.fragment)
            if whole is None:
                return
            self.stats["replies_reassembled"] = self.reassembler.completed
            try:
                f = wire.Frame.FromString(whole)
            except Exception:
                self.stats["bad_datagrams"] += 1
                return
        self.cookie.take(f)
        if f.frame_id == cookie.PROBE_FRAME_ID:
            return      # a late answer to the probe at open
        if cookie.asked(f):
            # refused whole, nothing of it run: again at once, with the cookie
            # (not kept without retransmission, or refused thrice: a NACK)
            sent = self.retx.frames.get(f.frame_id)
            if sent is not None and sent.cookie_retries < 3:
                sent.cookie_retries += 1
                self.stats["cookie_retries"] += 1
                self._send(sent.data)
                return
        for cf in f.confirms:
            if cf.task_id == 0:
                # frame-level: the engine could not read the frame; one per task
                for tid in self.history.get(f.frame_id, ()):
                    self._apply_confirm(tid, False, cf.reason, cf.detail)
            else:
                self._apply_confirm(cf.task_id, cf.ack, cf.reason, cf.detail)
        for r in f.results:
            self._apply_result(r)

    def _apply_confirm(self, tid, ack, reason, detail):
        if tid not in self.unconfirmed:
            self.stats["duplicates_dropped"] += 1   # an echo, or not ours
            return
        self.unconfirmed.discard(tid)
        self.stats["confirms"] += 1
        self.retx.confirmed(tid, ack)
        rec = self.records.get(tid)
        if rec is None:
            return
        rec.confirmed = True
        rec.ack = ack
        if not ack:
            rec.reason = NACK_NAMES.get(reason, "unknown-%d" % reason)
            rec.detail = detail
            self._end(rec, "REJECTED")
            self.errors[tid] = TaskRejected(tid, rec.reason, detail)

    def _end(self, rec, state):
        """A NACK or a give-up ends the task and the steps confirmed through it."""
        rec.state = state
        for d in rec.dependents or ():
            dep = self.records.get(d)
            if dep is not None and not dep.final:
                dep.state, dep.gave_up = state, rec.gave_up
                dep.reason, dep.detail = rec.reason, rec.detail

    def _apply_result(self, r):
        rec = self.records.get(r.task_id)
        if rec is None:
            return
        state = STATE_NAMES.get(r.state, "PENDING")
        if r.task_id in self.unconfirmed:
            # its confirm was lost: the result proves the task was taken
            self.unconfirmed.discard(r.task_id)
            rec.confirmed = rec.ack = True
        if state in FINAL_STATES:
            self.retx.resolved(r.task_id)
            if rec.final:
                self.stats["duplicates_dropped"] += 1   # an echo of a retransmit
                return
            self.stats["results"] += 1
            rec.state = state
            rec.value = r.value
            rec.error = r.error
            rec.runtime_ns = r.runtime_ns
        elif not rec.final:
            rec.state = state
            if r.value:
                rec.meta = r.value

    def _run_retransmits(self):
        if not self.retx.enabled():
            return
        resend, gave_up = self.retx.due(time.monotonic())
        for frame in resend:
            self.stats["retransmits"] += 1
            self._send(frame.data)
        for frame in gave_up:
            self.stats["retransmit_gave_up"] += 1
            for tid in frame.unconfirmed:
                if tid not in self.unconfirmed:
                    continue
                self.unconfirmed.discard(tid)
                rec = self.records.get(tid)
                if rec is None:
                    continue
                rec.gave_up = True
                rec.attempts = frame.attempts
                self._end(rec, "PENDING")
                self.errors[tid] = EngineUnreachable(self.engine, tid, frame.attempts)
        if gave_up:
            self.changed.notify_all()

    # -- waiting ---------------------------------------------------------------

    def wait_for(self, predicate, timeout):
        """Wait (lock held by the caller's `with channel.lock`) until
        predicate() or timeout seconds (None: for ever). @return predicate()."""
        return self.changed.wait_for(predicate, timeout)

    def wait_confirms(self, timeout=None):
        """Send what is pending, then wait until every task sent so far is
        confirmed or given up. Raises the first rejection or give-up seen
        since the last call (each is raised once); returns False on timeout."""
        with self.lock:
            self._flush_locked()
            done = self.changed.wait_for(lambda: not self.unconfirmed, timeout)
            errors, self.errors = self.errors, {}
        if errors:
            raise next(iter(errors.values()))
        return done

    def close(self):
        with self.lock:
            if self._closed:
                return
            self._flush_locked()
            self._closed = True
        self._thread.join(1.0)
        self.sock.close()
