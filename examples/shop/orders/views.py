"""Order view: the order is saved, and its confirmation mail is queued once
the transaction commits (a worker must never look for an order that is
not in the database yet). The task's page follows it live in the browser,
straight from tw-control's WebSocket, with a view token signed for that
task alone (the browser never sees tw-control's own token)."""
import json

from django.db import transaction
from django.http import HttpResponse, JsonResponse
from taskwire.contrib.django import follow_data

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


PROGRESS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Order mail</title></head>
<body>
<p>Mail task <code id="task"></code>: <strong id="state">connecting</strong></p>
<p id="detail"></p>
<script>
const follow = %s;
document.getElementById("task").textContent = follow.task;
const ws = new WebSocket(follow.url);
ws.onmessage = (m) => {
  const ev = JSON.parse(m.data);
  document.getElementById("state").textContent = ev.state || ev.type;
  if (ev.result !== undefined && ev.result !== "")
    document.getElementById("detail").textContent = JSON.stringify(ev.result);
  if (ev.state === "SUCCESS" || ev.state === "FAILURE") ws.close();
};
ws.onerror = () => { document.getElementById("state").textContent = "unreachable"; };
</script>
</body></html>
"""


def task_progress_page(request, task_id):
    """A page that follows the task live: its state now, then each event."""
    try:
        data = follow_data(task_id)
    except ValueError as e:
        return JsonResponse({"error": str(e)}, status=400)
    return HttpResponse(PROGRESS_PAGE % data, content_type="text/html; charset=utf-8")
