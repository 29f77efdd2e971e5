"""taskwire.contrib.django in a Django project (tests/djproject): the app
config imports every installed app's tasks in any process and checks the
TASKWIRE_ settings; delay_on_commit publishes at commit, never on
rollback (eager and through the real engine); the ready-made status view
answers a task's progress, result and failure as a Python worker
(`-P threads`) and the result store give them, and a clear status for a
bad id, a wrong method and an unreachable store. Django's settings are per
process: each scenario runs in a process of its own."""
import json
import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.abspath(os.path.join(HERE, ".."))
PROJECT = os.path.join(HERE, "djproject")
QUEUE = "pydj"

SETUP = """
import json, os, sys
import django
django.setup()
from django.core import checks
from django.test import Client
from taskwire.app import _apps
from taskwire.contrib import django as twdj
web = Client()
out = {}
def call(method, path, body=None):
    r = (web.post(path, json.dumps(body), content_type="application/json")
         if method == "POST" else web.get(path))
    return r.status_code, json.loads(r.content)
"""


def run(script, settings=None, env_extra=None, timeout=60):
    env = dict(os.environ)
    env.update(PYTHONPATH=os.pathsep.join([PKG, PROJECT]), DJANGO_SETTINGS_MODULE="djsite.settings",
               DJ_SETTINGS=json.dumps(settings or {}), DJ_QUEUE=QUEUE, **(env_extra or {}))
    r = subprocess.run([sys.executable, "-B", "-c", SETUP + script + "\nprint(json.dumps(out))"],
                       cwd=PROJECT, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_app_config_discovers_tasks_and_checks_the_settings():
    out = run("""
import djsite
out["tasks"] = sorted(n for n in djsite.taskwire_app.tasks if n.startswith("notes."))
out["current"] = twdj.current_app() is djsite.taskwire_app
out["checks"] = [(m.id, m.msg, m.hint) for m in checks.run_checks(tags=["taskwire"])]
""", settings={"TASKWIRE_ENGINE": "10.0.0.1", "TASKWIRE_TASK_ALWAYS_EAGR": True})
    # imported by the app config in a web process, not only by a worker
    assert out["tasks"] == ["notes.divide", "notes.wait_for"], out
    assert out["current"] is True
    ids = {c[0]: c for c in out["checks"]}
    assert set(ids) == {"taskwire.W001", "taskwire.E001"}, out["checks"]
    assert "TASKWIRE_TASK_ALWAYS_EAGR" in ids["taskwire.W001"][1]
    assert ids["taskwire.W001"][2] == "did you mean TASKWIRE_TASK_ALWAYS_EAGER?"
    assert "'10.0.0.1': expected IP:PORT" in ids["taskwire.E001"][1]


def test_eager_delay_on_commit_runs_at_commit_never_on_rollback(tmp_path):
    out = run("""
from django.db import transaction
from notes import tasks
with transaction.atomic():
    r = tasks.divide.delay_on_commit(6, 3)
    out["inside"] = r.state
out["after"] = [r.state, r.get()]
try:
    with transaction.atomic():
        lost = tasks.divide.delay_on_commit(1, 0)
        raise KeyError("rollback")
except KeyError:
    pass
out["rolled_back"] = lost.state
out["view"] = call("POST", "/start/", {"task": "divide", "args": [9, 3]})
from django.test import override_settings
out["checks"] = [m.id for m in checks.run_checks(tags=["taskwire"])]
with override_settings(TASKWIRE_TASK_ALWAYS_EAGER=False):
    out["checks_not_eager"] = [m.id for m in checks.run_checks(tags=["taskwire"])]
""", settings={"TASKWIRE_TASK_ALWAYS_EAGER": True, "TASKWIRE_ENGINE": None},
              env_extra={"TW_ENGINE": ""})
    assert out["inside"] == "PENDING"
    assert out["after"] == ["SUCCESS", 2.0]
    assert out["rolled_back"] == "PENDING"     # the body never ran
    assert out["view"][0] == 200 and out["view"][1]["state"] == "SUCCESS", out
    # no engine: fine in eager mode, told otherwise
    assert out["checks"] == [] and out["checks_not_eager"] == ["taskwire.W002"], out


def test_status_view_answers_bad_ids_methods_and_an_unreachable_store(tmp_path):
    out = run("""
out["checks"] = [m.id for m in checks.run_checks(tags=["taskwire"])]
out["bad"] = call("GET", "/tasks/not-hex/")
out["zero"] = call("GET", "/tasks/0000000000000000/")
out["post"] = call("POST", "/tasks/00000000000000ab/", {})
out["store"] = call("GET", "/tasks/00000000000000ab/")
""", settings={"TASKWIRE_ENGINE": "127.0.0.1:9", "TASKWIRE_NETNS": None,
               "TASKWIRE_VIEW_TOKEN_TTL": 60,
               "TASKWIRE_CONTROL_SOCKET": str(tmp_path / "no-such.sock")})
    assert out["checks"] == [], out     # every name read, a good address
    assert out["bad"][0] == 400 and out["bad"][1]["error"].startswith("task id:"), out
    assert out["zero"][0] == 400, out
    assert out["post"][0] == 405, out
    assert out["store"][0] == 503 and out["store"][1]["error"].startswith("result store:"), out


@pytest.mark.engine
def test_status_view_follows_a_worker_through_the_engine(tmp_path):
    from test_worker import stop    # noqa: E402 - the worker tests' helper
    import taskwire
    with taskwire.Client() as c:
        c.control.queue_declare(QUEUE)
    env = dict(os.environ)
    env.update(PYTHONPATH=os.pathsep.join([PKG, PROJECT]), DJANGO_SETTINGS_MODULE="djsite.settings",
               DJ_QUEUE=QUEUE)
    worker = subprocess.Popen([sys.executable, "-B", "-m", "taskwire", "worker", "-A",
                               "djsite.tasks_app", "-P", "threads", "-c", "2"], cwd=PROJECT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, lines = time.monotonic() + 20, []
        while time.monotonic() < deadline:
            line = worker.stdout.readline()
            lines.append(line)
            if not line or "taskwire worker: ready" in line:
                break
        assert "taskwire worker: ready" in lines[-1], "".join(lines)
        gate = tmp_path / "gate"
        out = run("""
import time
def until(task, states, bound=15):
    deadline = time.monotonic() + bound
    while True:
        st = call("GET", "/tasks/%s/" % task)
        if st[1].get("state") in states or time.monotonic() > deadline:
            return st
        time.sleep(0.05)
gate = sys.argv[1] if len(sys.argv) > 1 else os.environ["DJ_GATE"]
_, started = call("POST", "/start/", {"task": "wait_for", "args": [gate]})
out["progress"] = until(started["task"], ("PROGRESS", "SUCCESS", "FAILURE"))
open(gate, "w").close()
out["success"] = until(started["task"], ("SUCCESS", "FAILURE"))
_, failed = call("POST", "/start/", {"task": "divide", "args": [1, 0]})
out["failure"] = until(failed["task"], ("SUCCESS", "FAILURE"))
_, lost = call("POST", "/start/", {"task": "divide", "args": [1, 1], "rollback": True})
out["lost_task"] = lost["task"]
_, after = call("POST", "/start/", {"task": "divide", "args": [4, 2]})
out["after"] = until(after["task"], ("SUCCESS", "FAILURE"))
out["rolled_back"] = call("GET", "/tasks/%s/" % lost["task"])
out["follow"] = json.loads(twdj.follow_data(started["task"], ttl=60, run="x"))
""", env_extra={"DJ_GATE": str(gate), "DJ_DB": str(tmp_path / "db.sqlite3")})
    finally:
        rc = stop(worker)
    log = worker.stdout.read()
    assert rc == 0, log
    tid = out["progress"][1]["task"]
    assert out["progress"] == [200, {"task": tid, "state": "PROGRESS",
                                     "progress": {"waiting": "gate"}}], out
    assert out["success"] == [200, {"task": tid, "state": "SUCCESS",
                                    "result": {"seen": "gate"}}], out
    status, failure = out["failure"]
    assert status == 200 and failure["state"] == "FAILURE", out
    assert "ZeroDivisionError" in failure["error"] and "Traceback" in failure["error"], failure
    assert out["after"][1] == {"task": out["after"][1]["task"], "state": "SUCCESS", "result": 2.0}
    # published after the rolled-back one and done: the rolled-back one was never sent
    assert out["rolled_back"] == [200, {"task": out["lost_task"], "state": "PENDING"}], out
    assert out["lost_task"] not in log, log
    assert out["follow"]["task"] == tid and out["follow"]["run"] == "x", out
    assert ("task=%s" % tid) in out["follow"]["url"] and "view=" in out["follow"]["url"], out
