"""The exceptions of the taskwire client: one per way a task can go wrong,
so callers can tell "the engine said no" from "nobody answered" from "it
is not done yet" from "it ran and failed"."""


class TaskwireError(Exception):
    """Base class of every error this package raises."""


class EngineUnreachable(TaskwireError):
    """A frame was sent max_attempts times and never confirmed."""

    def __init__(self, engine, task_id, attempts):
        self.engine = engine
        self.task_id = task_id
        self.attempts = attempts
        super().__init__("engine %s did not confirm task %016x after %d sends "
                         "(is the engine running, and is this process in its "
                         "network namespace?)" % (engine, task_id, attempts))


class TaskRejected(TaskwireError):
    """The engine NACKed the task: reason is the NACK name ("queue-full",
    "unroutable", ...), detail the engine's words, if any."""

    def __init__(self, task_id, reason, detail=""):
        self.task_id = task_id
        self.reason = reason
        self.detail = detail
        msg = "engine rejected task %016x: %s" % (task_id, reason)
        if detail:
            msg += " (%s)" % detail
        super().__init__(msg)


class ResultTimeout(TaskwireError, TimeoutError):
    """AsyncResult.get() ran out of time before the task reached a final state."""

    def __init__(self, task_id, timeout, state):
        self.task_id = task_id
        self.timeout = timeout
        self.state = state
        super().__init__("task %016x has no final result after %.3g s (state %s)"
                         % (task_id, timeout, state))


class TaskFailed(TaskwireError):
    """The task ran and ended in FAILURE (or REVOKED / EXPIRED, the subclasses)."""

    def __init__(self, task_id, state, error):
        self.task_id = task_id
        self.state = state
        self.error = error
        super().__init__("task %016x %s: %s" % (task_id, state, error or "(no message)"))


class TaskRevoked(TaskFailed):
    """The task was revoked before it started."""


class TaskExpired(TaskFailed):
    """The task was not started before its expiry."""


class ControlError(TaskwireError):
    """tw-control refused a request or could not be reached on its socket."""


class FrameTooLarge(TaskwireError, ValueError):
    """A task (or a workflow that cannot be split) does not fit in one frame."""
