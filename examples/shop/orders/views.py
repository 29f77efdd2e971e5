"""Order view: the order is saved, and its confirmation mail is queued once
the transaction commits (a worker must never look for an order that is
not in the database yet)."""
import json

from django.db import transaction
from django.http import JsonResponse

from .models import Order
from .tasks import order_created


def create_order(request):
    if request.method != "POST":
        return JsonResponse({"error": "POST an order"}, status=405)
    data = json.loads(request.body or b"{}")
    with transaction.atomic():
        order = Order.objects.create(email=data["email"], item=data["item"])
        pending = order_created.delay_on_commit(order.id)
    return JsonResponse({"order": order.id, "task": pending.id})


def task_status(request, task_id):
    """A task's state and result, read from taskwire's result store."""
    r = order_created.AsyncResult(task_id)
    state = r.state
    body = {"task": task_id, "state": state}
    if state == "SUCCESS":
        body["result"] = r.result
    return JsonResponse(body)
