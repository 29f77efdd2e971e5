"""The shop's tasks, as a Celery project writes them (only the import differs)."""
from smtplib import SMTPException

from django.core.mail import send_mail
from taskwire import shared_task

from .models import Order


@shared_task(name="orders.order_created", bind=True, autoretry_for=(SMTPException,),
             retry_backoff=0.2, retry_backoff_max=1, max_retries=5)
def order_created(self, order_id):
    order = Order.objects.get(id=order_id)
    send_mail("Your order #%d" % order.id,
              "Thank you for ordering %s." % order.item,
              None, [order.email])
    return {"order": order.id, "mailed": order.email, "retries": self.request.retries}
