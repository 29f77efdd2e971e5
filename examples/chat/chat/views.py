"""The room page: a list of messages, and a script that opens the room's
WebSocket and says hello (?name=...&say=...) a moment after it connects."""
from django.http import HttpResponse
from django.utils.html import escape

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>room %(room)s</title></head>
<body><h1>room %(room)s</h1><p id="state">connecting</p><ul id="log"></ul>
<script>
const params = new URLSearchParams(location.search);
const name = params.get("name") || "anon";
const ws = new WebSocket("ws://" + location.host + "/ws/chat/%(room)s/");
ws.onopen = () => {
  document.getElementById("state").textContent = "connected";
  setTimeout(() => ws.send(JSON.stringify({who: name, text: params.get("say") || "hello"})),
             Number(params.get("delay_ms") || 2000));
};
ws.onclose = () => { document.getElementById("state").textContent = "closed"; };
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  const li = document.createElement("li");
  li.textContent = m.who + ": " + m.text;
  document.getElementById("log").appendChild(li);
};
</script></body></html>"""


def room(request, room):
    return HttpResponse(PAGE % {"room": escape(room)})
