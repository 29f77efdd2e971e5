"""At-least-once publishing, as libtaskwire does it (client/tw_client_retx.c).

A sent frame's bytes are kept until every task in it is confirmed and,
unless the frame holds delayed tasks or workflows (whose results may come
much later, or go only to the result store), has its final result. A frame
still missing confirms after its timeout (200 ms, doubling per send up to
2 s) or, once confirmed, missing results 1 s (doubling) after the last
send is sent again with the same bytes and ids; the engine's duplicate
suppression (Frame.retransmits) confirms it again and re-sends finished
results without running anything twice. After max_attempts sends the frame
is given up: its unconfirmed tasks are reported as EngineUnreachable.

Deadlines sit in a heap; an entry is checked against its frame when it is
popped (a frame's deadline moves when it is confirmed or sent again), so
the work per check is bounded by the frames actually due.
"""
import heapq

RTO_MAX_S = 2.0
RESULT_TIMEOUT_S = 1.0


class SentFrame:
    __slots__ = ("frame_id", "data", "task_ids", "unconfirmed", "unresolved", "wait_results",
                 "attempts", "sent_at", "rto", "cookie_retries")

    def __init__(self, frame_id, data, task_ids, wait_results, now, rto):
        self.frame_id = frame_id
        self.data = data
        self.task_ids = task_ids
        self.unconfirmed = set(task_ids)
        self.unresolved = set(task_ids) if wait_results else set()
        self.wait_results = wait_results
        self.attempts = 1
        self.sent_at = now
        self.rto = rto
        self.cookie_retries = 0     # sent again with a new source cookie (cookie.py)

    @property
    def settled(self):
        return not self.unconfirmed and not self.unresolved

    def deadline(self):
        if self.unconfirmed:
            return self.sent_at + self.rto
        return self.sent_at + RESULT_TIMEOUT_S * (1 << (self.attempts - 1))


class Retransmitter:
    """Frames in flight by frame id, and when each is due again."""

    def __init__(self, rto_s, max_attempts):
        self.rto_s = rto_s
        self.max_attempts = max_attempts
        self.frames = {}        # frame_id -> SentFrame, until settled or given up
        self.by_task = {}       # task id -> SentFrame, for confirms and results
        self._heap = []         # (deadline, frame_id)

    def enabled(self):
        return self.rto_s > 0

    def add(self, frame):
        if not self.enabled():
            return
        self.frames[frame.frame_id] = frame
        for t in frame.task_ids:
            self.by_task[t] = frame
        heapq.heappush(self._heap, (frame.deadline(), frame.frame_id))

    def _drop_if_settled(self, frame):
        if frame.settled:
            self._forget(frame)

    def _forget(self, frame):
        self.frames.pop(frame.frame_id, None)
        for t in frame.task_ids:
            if self.by_task.get(t) is frame:
                del self.by_task[t]

    def confirmed(self, task_id, ack):
        """A confirm arrived; a NACK also ends the task (no result will come)."""
        frame = self.by_task.get(task_id)
        if frame is None:
            return
        frame.unconfirmed.discard(task_id)
        if not ack:
            frame.unresolved.discard(task_id)
        self._drop_if_settled(frame)

    def resolved(self, task_id):
        """A final result arrived (which also proves the task was taken)."""
        frame = self.by_task.get(task_id)
        if frame is None:
            return
        frame.unconfirmed.discard(task_id)
        frame.unresolved.discard(task_id)
        self._drop_if_settled(frame)

    def next_due(self):
        return self._heap[0][0] if self._heap else None

    def due(self, now):
        """Frames to send again now, and frames given up (their unconfirmed
        task ids are the caller's to report). Sends are counted here."""
        resend, gave_up = [], []
        while self._heap and self._heap[0][0] <= now:
            _, fid = heapq.heappop(self._heap)
            frame = self.frames.get(fid)
            if frame is None:
                continue
            d = frame.deadline()
            if d > now:         # moved (confirmed meanwhile): wait for its new deadline
                heapq.heappush(self._heap, (d, fid))
                continue
            if frame.attempts >= self.max_attempts:
                self._forget(frame)
                gave_up.append(frame)
                continue
            frame.attempts += 1
            frame.sent_at = now
            frame.rto = min(frame.rto * 2, RTO_MAX_S)
            heapq.heappush(self._heap, (frame.deadline(), fid))
            resend.append(frame)
        return resend, gave_up
