"""python3 manage.py notify_all TEXT: a message to every connected page
(the everyone group), from any process that has the channel layer."""
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management.base import BaseCommand

from chat.consumers import EVERYONE


class Command(BaseCommand):
    help = "Send TEXT to every connected chat page"

    def add_arguments(self, parser):
        parser.add_argument("text")

    def handle(self, *args, **options):
        layer = get_channel_layer()
        async_to_sync(layer.group_send)(EVERYONE, {"type": "notify", "text": options["text"]})
        async_to_sync(layer.close)()
        self.stdout.write("notified everyone: %s" % options["text"])
