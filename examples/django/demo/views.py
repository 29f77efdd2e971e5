"""The demo's views: publish a job, then report its progress as JSON for
the page (which follows the job's events on tw-control's WebSocket, and
polls here when it cannot).

A job is a chord: a group of `steps` sleep_us tasks (run on the engine's
threads pool, so they sleep in parallel) whose callback `echo` gets the
list of their results. Progress = members finished / steps; the chord's
AsyncResult (its callback) is the job's final result. The group's member
results are kept in this process (the dev server is one process); a single
task id can be looked up from anywhere through the result store
(/tasks/<id>, taskwire.contrib.django's status view).
"""
import json
import threading

from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

import taskwire
from taskwire.contrib.django import follow_url

from .taskwire_app import app

_jobs = {}              # job id -> (GroupResult of the steps, AsyncResult of the callback)
_jobs_lock = threading.Lock()


def index(request):
    return render(request, "demo/index.html")


@csrf_exempt        # a local demo page posting to itself
@require_POST
def start_job(request):
    try:
        body = json.loads(request.body or b"{}")
        steps = int(body.get("steps", 8))
        step_ms = int(body.get("step_ms", 400))
    except (ValueError, TypeError):
        return HttpResponseBadRequest("steps and step_ms must be integers")
    if not (1 <= steps <= 50 and 1 <= step_ms <= 5000):
        return HttpResponseBadRequest("steps 1..50, step_ms 1..5000")
    c = app.client
    sleep, echo = c.task("sleep_us"), c.task("echo")
    header = taskwire.group(sleep.s(step_ms * 1000) for _ in range(steps))
    try:
        job = taskwire.chord(header, echo.s("done")).apply_async()
    except taskwire.TaskwireError as e:
        return JsonResponse({"error": str(e)}, status=502)
    with _jobs_lock:
        _jobs[job.id] = (list(job.parent), job)     # parent: the header's GroupResult
    try:
        # the page follows the group's events here, with a view token signed
        # for that group alone (it polls without it)
        events = follow_url(job.parent)
    except (ValueError, OSError):   # no TASKWIRE_HTTP, or no token file to sign with
        events = None
    return JsonResponse({"job": job.id, "group": job.parent.id, "steps": steps,
                         "members": [r.id for r in job.parent], "events": events})


@require_GET
def job_status(request, job_id):
    with _jobs_lock:
        job = _jobs.get(job_id)
    if job is None:
        return JsonResponse({"error": "unknown job " + job_id}, status=404)
    members, callback = job
    done = sum(1 for r in members if r.ready())
    out = {"job": job_id, "total": len(members), "done": done, "state": callback.state}
    if callback.ready():
        try:
            out["result"] = callback.get(timeout=0)
        except taskwire.TaskwireError as e:
            out["error"] = str(e)
    return JsonResponse(out)
