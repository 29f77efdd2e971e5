"""One WebSocket per browser page: it joins its room's group and the
everyone group; what it says goes to the room (group_send), and whatever
the groups carry comes back to the page."""
from channels.generic.websocket import AsyncJsonWebsocketConsumer

EVERYONE = "everyone"


class ChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.room = "room-" + self.scope["url_route"]["kwargs"]["room"]
        await self.channel_layer.group_add(self.room, self.channel_name)
        await self.channel_layer.group_add(EVERYONE, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.room, self.channel_name)
        await self.channel_layer.group_discard(EVERYONE, self.channel_name)

    async def receive_json(self, content, **kwargs):
        await self.channel_layer.group_send(self.room, {
            "type": "chat.message", "who": str(content.get("who", "?"))[:40],
            "text": str(content.get("text", ""))[:500]})

    async def chat_message(self, event):
        await self.send_json({"who": event["who"], "text": event["text"]})

    async def notify(self, event):
        await self.send_json({"who": "server", "text": event["text"]})
