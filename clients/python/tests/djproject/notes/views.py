import json

from django.db import transaction
from django.http import JsonResponse

from . import tasks


class RolledBack(Exception):
    pass


def start(request):
    """POST {"task": NAME, "args": [...], "rollback": bool}: the task is
    published when the view's transaction commits (never on rollback)."""
    body = json.loads(request.body)
    task = getattr(tasks, body["task"])
    pending = None
    try:
        with transaction.atomic():
            pending = task.delay_on_commit(*body["args"])
            if body.get("rollback"):
                raise RolledBack()
    except RolledBack:
        pass
    return JsonResponse({"task": pending.id, "state": pending.state})
