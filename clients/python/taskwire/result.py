"""AsyncResult and GroupResult: a published task's (or group's) state and
result, as Celery's result objects present them.

States come from the client's own records (confirms and results sent
back over UDP to this publisher) and, when the client has tw-control's
control socket, from the result store: for tasks another process
published, for records this client no longer keeps, and as a fallback
poll while waiting (a result whose every retransmit was lost).
"""
import time

from . import serializers
from ._proto import FINAL_STATES, STATE_NAMES
from .errors import (ControlError, EngineUnreachable, ResultTimeout, TaskExpired, TaskFailed,
                     TaskRejected, TaskRevoked)
from .options import parse_task_id

STORE_POLL_S = 0.25     # how often get() asks the result store meanwhile


class _Snapshot:
    """One reading of a task's state, local or from the store."""

    __slots__ = ("state", "value", "error", "meta", "reason", "detail", "gave_up", "attempts",
                 "serializer")

    def __init__(self, state="PENDING", value=None, error="", meta=None, reason=None, detail="",
                 gave_up=False, attempts=0, serializer=None):
        self.state, self.value, self.error, self.meta = state, value, error, meta
        self.reason, self.detail = reason, detail
        self.gave_up, self.attempts, self.serializer = gave_up, attempts, serializer

    @property
    def final(self):
        return self.state in FINAL_STATES or self.gave_up


class AsyncResult:
    def __init__(self, task_id, client, parent=None):
        self.task_id = parse_task_id(task_id)
        self.client = client
        self.parent = parent    # a chord's result: the header's GroupResult

    @property
    def id(self):
        """The task id as twctl prints it (16 hex digits)."""
        return "%016x" % self.task_id

    def __repr__(self):
        return "<AsyncResult %s %s>" % (self.id, self.state)

    # -- reading -------------------------------------------------------------

    def _local(self):
        """The client's own record (caller holds the channel lock) or None."""
        rec = self.client.channel.records.get(self.task_id)
        if rec is None:
            return None
        return _Snapshot(rec.state, rec.value, rec.error, rec.meta, rec.reason, rec.detail,
                         rec.gave_up, rec.attempts, rec.serializer)

    def _store(self):
        """The result store's view, or None without a control socket."""
        if self.client.control is None:
            return None
        r = self.client.control.result(self.task_id)
        state = STATE_NAMES.get(r.state, "PENDING")
        if state in FINAL_STATES:
            return _Snapshot(state, r.value, r.error)
        return _Snapshot(state, meta=r.value or None)

    def _snapshot(self, strict=False):
        """strict: a store that cannot be read raises ControlError (a view
        must not answer PENDING for a task it could not look up)."""
        with self.client.channel.lock:
            snap = self._local()
        if snap is not None and (snap.final or snap.state != "PENDING"
                                 or self.client.control is None):
            return snap
        try:
            stored = self._store()
        except ControlError:
            if strict:
                raise
            stored = None
        return stored if stored is not None else (snap or _Snapshot())

    def _loads(self, snap, data):
        return serializers.get(snap.serializer or self.client.serializer).loads(data)

    @property
    def state(self):
        """PENDING, STARTED, PROGRESS, RETRY, SUCCESS, FAILURE, REVOKED,
        EXPIRED or REJECTED (NACKed by the engine)."""
        return self._snapshot().state

    status = state

    @property
    def info(self):
        """PROGRESS: the task's progress meta; SUCCESS: its result; FAILURE,
        REVOKED, EXPIRED: the error message; REJECTED: the NACK reason."""
        snap = self._snapshot()
        return self._info(snap)

    result = info       # Celery's name for the same

    def _info(self, snap):
        if snap.state == "SUCCESS":
            return self._loads(snap, snap.value)
        if snap.state in ("FAILURE", "REVOKED", "EXPIRED"):
            return snap.error
        if snap.state == "REJECTED":
            return snap.reason + (": " + snap.detail if snap.detail else "")
        if snap.meta:
            try:
                return self._loads(snap, snap.meta)
            except ValueError:
                return snap.meta
        return None

    def ready(self):
        return self._snapshot().final

    def successful(self):
        return self._snapshot().state == "SUCCESS"

    def failed(self):
        snap = self._snapshot()
        return snap.final and snap.state != "SUCCESS"

    # -- waiting -------------------------------------------------------------

    def get(self, timeout=None, propagate=True):
        """Wait for the final state. @return the result (deserialized).
        Raises ResultTimeout (a TimeoutError) when timeout seconds pass,
        TaskRejected on a NACK, EngineUnreachable when the engine never
        confirmed, and TaskFailed / TaskRevoked / TaskExpired when the task
        did not succeed (with propagate=False: the error message instead)."""
        snap = self.wait(timeout)
        if snap.gave_up or snap.state == "REJECTED":
            with self.client.channel.lock:     # raised here: not again by wait_confirms()
                rec = self.client.channel.records.get(self.task_id)
                for i in (self.task_id, rec.head if rec is not None else None):
                    self.client.channel.errors.pop(i, None)
        if snap.gave_up:
            raise EngineUnreachable(self.client.engine, self.task_id, snap.attempts)
        if snap.state == "REJECTED":
            raise TaskRejected(self.task_id, snap.reason, snap.detail)
        if snap.state == "SUCCESS":
            return self._loads(snap, snap.value)
        if not propagate:
            return snap.error
        cls = {"REVOKED": TaskRevoked, "EXPIRED": TaskExpired}.get(snap.state, TaskFailed)
        raise cls(self.task_id, snap.state, snap.error)

    # -- awaiting (asyncio) ------------------------------------------------------

    def __await__(self):
        return self.aget().__await__()

    async def aget(self, timeout=None, propagate=True):
        """`await result` / `await result.aget(timeout)`: get() for asyncio.
        The client's receive thread wakes the waiting coroutine; a task this
        client did not publish is read from the result store now and then
        (in the loop's executor: the control socket blocks)."""
        import asyncio
        loop = asyncio.get_running_loop()
        ch = self.client.channel
        deadline = None if timeout is None else loop.time() + timeout
        ch.flush()
        while True:
            fut = loop.create_future()
            with ch.lock:
                known = self.task_id in ch.records
                ch.add_async_waiter(self.task_id, loop, fut,
                                    lambda: (self._local() is not None and self._local().final))
            left = None if deadline is None else max(0.0, deadline - loop.time())
            step = left if known and self.client.control is None else (
                STORE_POLL_S if left is None else min(STORE_POLL_S, left))
            try:
                await asyncio.wait_for(fut, step)
                return self.get(timeout=0, propagate=propagate)
            except asyncio.TimeoutError:
                pass
            if self.client.control is not None:
                snap = await loop.run_in_executor(None, self._snapshot)
                if snap.final:
                    return self.get(timeout=0, propagate=propagate)
            if deadline is not None and loop.time() >= deadline:
                raise ResultTimeout(self.task_id, timeout, self.state)

    async def aconfirm(self, timeout=None):
        """Await the engine's confirm of a task this client published.
        Raises TaskRejected on a NACK (not again by wait_confirms()),
        EngineUnreachable when the engine never answered, ResultTimeout."""
        import asyncio
        loop = asyncio.get_running_loop()
        ch = self.client.channel
        ch.flush()
        fut = loop.create_future()

        def settled():
            rec = ch.records.get(self.task_id)
            return rec is None or rec.confirmed or rec.gave_up
        with ch.lock:
            ch.add_async_waiter(self.task_id, loop, fut, settled)
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise ResultTimeout(self.task_id, timeout, "unconfirmed") from None
        with ch.lock:
            rec = ch.records.get(self.task_id)
            if rec is None:
                return
            if rec.gave_up:
                ch.errors.pop(self.task_id, None)
                raise EngineUnreachable(self.client.engine, self.task_id, rec.attempts)
            if not rec.ack:
                ch.errors.pop(self.task_id, None)
                raise TaskRejected(self.task_id, rec.reason, rec.detail)

    def wait(self, timeout=None):
        """Wait for a final state without raising for it. @return a snapshot;
        raises ResultTimeout."""
        ch = self.client.channel
        deadline = None if timeout is None else time.monotonic() + timeout
        ch.flush()
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            step = STORE_POLL_S if left is None else max(0.0, min(STORE_POLL_S, left))
            with ch.lock:
                known = self.task_id in ch.records
                ch.wait_for(lambda: self._local() is not None and self._local().final,
                            step if (known or self.client.control is not None) else left)
                snap = self._local()
            if snap is not None and snap.final:
                return snap
            if self.client.control is not None:
                try:
                    stored = self._store()
                except ControlError:
                    stored = None
                if stored is not None and stored.final:
                    stored.serializer = snap.serializer if snap else None
                    return stored
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeout(self.task_id, timeout, (snap or _Snapshot()).state)

    # -- changing ------------------------------------------------------------

    def forget(self):
        """Remove the result from the result store (and this client's record)."""
        if self.client.control is None:
            raise ControlError("forget() needs the engine's control socket: "
                               "Client(control_socket=...)")
        self.client.control.forget(self.task_id)
        with self.client.channel.lock:
            self.client.channel.records.pop(self.task_id, None)

    def revoke(self):
        """Do not start the task (it must still wait somewhere)."""
        if self.client.control is None:
            raise ControlError("revoke() needs the engine's control socket: "
                               "Client(control_socket=...)")
        self.client.control.revoke(self.task_id)


class GroupResult:
    """A group's members' results, in member order. id: the group's id."""

    def __init__(self, group_id, results, client):
        self.group_id = group_id
        self.results = results
        self.client = client

    @property
    def id(self):
        return "%016x" % self.group_id

    def __iter__(self):
        return iter(self.results)

    def __len__(self):
        return len(self.results)

    def __repr__(self):
        return "<GroupResult %s [%s]>" % (self.id, ", ".join(r.id for r in self.results))

    def get(self, timeout=None, propagate=True):
        """Every member's result, in order (see AsyncResult.get)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        out = []
        for r in self.results:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            out.append(r.get(left, propagate))
        return out

    def __await__(self):
        return self.aget().__await__()

    async def aget(self, timeout=None, propagate=True):
        """`await group_result`: every member's result, in order."""
        import asyncio
        return list(await asyncio.wait_for(
            asyncio.gather(*(r.aget(None, propagate) for r in self.results)), timeout))

    def ready(self):
        return all(r.ready() for r in self.results)

    def completed_count(self):
        return sum(1 for r in self.results if r.successful())

    def successful(self):
        return all(r.successful() for r in self.results)

    def failed(self):
        return any(r.failed() for r in self.results)

    def forget(self):
        for r in self.results:
            r.forget()
        AsyncResult(self.group_id, self.client).forget()
