"""taskwire: a pure-Python client for the taskwire engine (Celery's API over
taskwire's UDP wire protocol). See clients/python/README.md."""
from .app import (App, MaxRetriesExceededError, Retry, SoftTimeLimitExceeded,
                  shared_task)
from .canvas import Signature, chain, chord, group
from .client import Client
from .errors import (ControlError, EngineUnreachable, FrameTooLarge, ResultTimeout,
                     TaskExpired, TaskFailed, TaskRejected, TaskRevoked, TaskwireError)
from .keys import KeyFileError
from .result import AsyncResult, GroupResult
from . import serializers

__all__ = [
    "App", "shared_task", "Retry", "MaxRetriesExceededError", "SoftTimeLimitExceeded", "Client", "Signature", "chain", "group", "chord", "AsyncResult", "GroupResult",
    "TaskwireError", "EngineUnreachable", "TaskRejected", "ResultTimeout", "TaskFailed",
    "TaskRevoked", "TaskExpired", "ControlError", "FrameTooLarge", "KeyFileError", "serializers",
]
