"""Ready-made views: a task's state as JSON, for pages that poll (the
live way is follow_data() and tw-control's WebSocket)."""
from django.http import JsonResponse

from . import task_state
from ...errors import ControlError
from ...options import parse_task_id


def task_status(request, task_id):
    """GET: task_state(task_id) as JSON. 400 for a malformed id, 405 for
    another method, 503 when the result store cannot be read."""
    if request.method not in ("GET", "HEAD"):
        return JsonResponse({"error": "GET a task's state"}, status=405)
    try:
        parse_task_id(task_id)
    except ValueError as e:
        return JsonResponse({"error": "task id: %s" % e}, status=400)
    try:
        return JsonResponse(task_state(task_id))
    except ControlError as e:
        return JsonResponse({"error": "result store: %s" % e}, status=503)
