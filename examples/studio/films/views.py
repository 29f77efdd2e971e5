"""POST /films/ starts a film from an idea; GET /films/RUN/ is its page,
which follows the whole run live in the browser straight from
tw-control's WebSocket, with a view token signed for that run alone (the
browser never sees tw-control's own token). GET /films/new/?idea=... is
the page of a run not started yet: its id is chosen first, so the page
can follow it before it starts and miss none of its events (tw-control
streams events as they happen; a page that connects late learns only the
run's first step's state)."""
import json
import re

from django.http import HttpResponse, JsonResponse
from taskwire.contrib.django import follow_data

from .tasks import generate_all, new_run_id

RUN_ID = re.compile(r"^[0-9a-f]{16}$")


def start(request):
    if request.method != "POST":
        return JsonResponse({"error": "POST an idea"}, status=405)
    try:
        body = json.loads(request.body or b"{}")
        idea = str(body["idea"])[:200]
        run_id = body.get("run")
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": 'the body is {"idea": "...", "run": optional id}'}, status=400)
    if run_id is not None and (not isinstance(run_id, str) or not RUN_ID.match(run_id)
                               or run_id == "0" * 16):
        return JsonResponse({"error": "run: 16 lowercase hex digits, not all zero"}, status=400)
    run_id, last = generate_all(idea, run_id)
    return JsonResponse({"run": run_id, "shoot": last.id, "page": "/films/%s/" % run_id})


# Events of every task of the run arrive on one stream (the run's root id
# is on all of them): the page sorts them by task name. A shot's progress
# comes as PROGRESS events whose result is the task's meta.
RUN_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Studio run</title>
<style>
body { font-family: sans-serif; margin: 2em; }
td, th { padding: 0.2em 1em; text-align: left; }
progress { width: 12em; }
</style></head>
<body>
<h1>Run <code id="run"></code>: <span id="status">connecting</span></h1>
<p id="idea"></p>
<table>
<tr><th>script</th><td id="script">waiting</td></tr>
<tr><th>scenes</th><td id="scenes">waiting</td></tr>
<tr><th>shots</th><td><span id="shots">0</span> of <span id="planned">?</span> done</td></tr>
</table>
<table id="scene-table"></table>
<p id="summary"></p>
<p>fan-out: <code id="shoot"></code></p>
<script>
const follow = %s;
document.getElementById("run").textContent = follow.run;
const el = (id) => document.getElementById(id);
const shotRows = {};
let shotsDone = 0;
function shotRow(n) {
  if (!shotRows[n]) {
    const tr = document.createElement("tr");
    tr.innerHTML = "<th>scene " + n + "</th><td><progress max='1' value='0'></progress></td><td></td>";
    el("scene-table").appendChild(tr);
    shotRows[n] = tr;
  }
  return shotRows[n];
}
function parse(v) { try { return typeof v === "string" ? JSON.parse(v) : v; } catch (e) { return null; } }
const ws = new WebSocket(follow.url);
if (follow.idea !== null) {
  // a new run: it starts once the page follows it
  el("idea").textContent = follow.idea;
  ws.onopen = () => fetch("/films/", {method: "POST", body: JSON.stringify({idea: follow.idea, run: follow.run})})
    .then((r) => r.json().then((j) => {
      if (!r.ok) el("status").textContent = "refused: " + (j.error || r.status);
      else el("shoot").textContent = j.shoot;
    }));
}
ws.onmessage = (m) => {
  const ev = JSON.parse(m.data);
  const name = ev.name || "", state = ev.state || "", r = parse(ev.result);
  if (name === "films.generate_script")
    el("script").textContent = state === "PROGRESS" && r ? "writing " + r.done + "/" + r.of : state;
  else if (name === "films.generate_scenes")
    el("scenes").textContent = state;
  else if (name === "films.shoot_all" && state === "SUCCESS" && r)
    el("planned").textContent = r.scenes;
  else if (name === "films.generate_shots" && state === "PROGRESS" && r) {
    const row = shotRow(r.scene);
    row.children[1].firstChild.value = r.done / r.of;
  } else if (name === "films.generate_shots" && state === "SUCCESS") {
    shotsDone += 1;
    el("shots").textContent = shotsDone;
  } else if (name === "films.collect" && state === "SUCCESS" && r) {
    for (const n of r.scenes) { const row = shotRow(n); row.children[1].firstChild.value = 1; row.children[2].textContent = "shot"; }
    el("summary").textContent = r.shots + " shots, " + r.bytes + " bytes, from " + r.hosts.length + " GPU host(s)";
    el("status").textContent = "done: " + r.shots + " shots";
    ws.close();
  }
  if (state === "FAILURE") el("status").textContent = "failed: " + name + ": " + (ev.error || "");
  else if (el("status").textContent === "connecting") el("status").textContent = "running";
};
ws.onerror = () => { el("status").textContent = "unreachable"; };
</script>
</body></html>
"""


def _page(run_id, idea):
    try:
        data = follow_data(run_id, run=run_id, idea=idea)
    except ValueError as e:
        return JsonResponse({"error": str(e)}, status=400)
    return HttpResponse(RUN_PAGE % data, content_type="text/html; charset=utf-8")


def run_page(request, run_id):
    return _page(run_id, None)


def new_run_page(request):
    idea = request.GET.get("idea", "").strip()[:200]
    if not idea:
        return JsonResponse({"error": "?idea=..."}, status=400)
    return _page(new_run_id(), idea)
