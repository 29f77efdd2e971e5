"""What the client knows about one task it published: its confirm and its
states as they arrive. Records are written by the channel's receive
thread under the channel lock and read by AsyncResult under the same lock.
"""
from ._proto import FINAL_STATES


class TaskRecord:
    """One task's confirm and latest state.

    head: the id whose confirm stands for this one (a chain's last step is
    answered by the engine, but only the chain's first task, the one in
    the frame, gets a confirm); None for a task that is its own head.
    dependents: the other way round, so a NACK or a give-up reaches them.
    """

    __slots__ = ("task_id", "head", "dependents", "confirmed", "ack", "reason", "detail",
                 "state", "value", "error", "meta", "runtime_ns", "gave_up", "attempts",
                 "serializer")

    def __init__(self, task_id, serializer, head=None):
        self.task_id = task_id
        self.head = head
        self.dependents = None
        self.confirmed = False
        self.ack = False
        self.reason = None
        self.detail = ""
        self.state = "PENDING"
        self.value = None       # result bytes on SUCCESS
        self.error = ""
        self.meta = None        # last PROGRESS (or RETRY) value bytes
        self.runtime_ns = 0
        self.gave_up = False    # never confirmed after max_attempts sends
        self.attempts = 0
        self.serializer = serializer

    @property
    def final(self):
        return self.state in FINAL_STATES or self.gave_up
