#!/usr/bin/env python3
"""A stand-in for tw-control's dashboard API, for working on
control/dashboard/index.html without an engine (a development aid; the
integration test, dashboard_test.sh, uses the real binaries).

Serves the page at / and made-up but self-consistent figures under the
API contract: /api/overview (counters growing at a varying rate),
/api/tasks/<id>, /api/tasks?status=..., POST /api/tasks/<id>/revoke and
/events (Server-Sent Events, with ?task= and ?queue= filters).

    python3 tests/integration/dashboard_mock.py [--port 8099] [--fail-api] [--sse-burst N]

--fail-api answers every /api/ request with HTTP 503, to see how the
page shows an unreachable engine. --sse-burst N ends each /events
response after N events (the browser reconnects): headless Chromium's
--virtual-time-budget only runs out when no request is pending, so this
is how a snapshot can show the event feed. Listens on 127.0.0.1 only.
"""
import argparse
import json
import math
import os
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ROOT = os.path.dirname(os.path.abspath(__file__))
INDEX = os.path.join(ROOT, "..", "..", "control", "dashboard", "index.html")
START = time.monotonic()
QUEUES = ["jobs", "emails", "reports"]
NAMES = ["add", "echo", "sleep_us", "flaky", "fail"]


def now_ms():
    return int(time.time() * 1000)


def uptime_ms():
    return int((time.monotonic() - START) * 1000)


def executed_at(t_ms):
    """Tasks executed after t_ms of uptime: the integral of a rate that
    swings between 60k/s and 180k/s with a 20 s period."""
    t = t_ms / 1000.0
    return int(120000 * t - 60000 * 20 / (2 * math.pi) * (math.cos(2 * math.pi * t / 20) - 1))


class Model:
    """Known tasks: a few finished, a few scheduled; revoke moves one."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tasks = {}
        for i, name in enumerate(NAMES):
            tid = "%016x" % (0xab00 + i)
            ok = name != "fail"
            self.tasks[tid] = {"task_id": tid, "state": "SUCCESS" if ok else "FAILURE",
                               "name": name, "result": "5" if ok else "",
                               "error": "" if ok else "fail: always fails",
                               "retries": 0, "where": "store"}
        for i in range(3):
            tid = "%016x" % (0xcd00 + i)
            self.tasks[tid] = {"task_id": tid, "state": "PENDING", "name": "add", "result": "",
                               "error": "", "retries": 0, "where": "scheduler",
                               "eta_s": 60 * (i + 1), "queue": "jobs"}

    def get(self, tid):
        with self.lock:
            t = self.tasks.get(tid)
            if t is None:
                return {"task_id": tid, "state": "PENDING", "name": "", "result": "",
                        "error": "", "retries": 0, "where": "unknown"}
            return {k: v for k, v in t.items() if k not in ("eta_s", "queue")}

    def revoke(self, tid):
        with self.lock:
            t = self.tasks.get(tid)
            if t is None or t["state"] in ("SUCCESS", "FAILURE", "REVOKED", "EXPIRED"):
                return False
            t["state"] = "REVOKED"
            t["where"] = "revoked"
            t["error"] = "revoked before it started"
            return True

    def listing(self, status):
        out = []
        with self.lock:
            for t in self.tasks.values():
                if status == "scheduled" and t["where"] == "scheduler" or \
                        status == "revoked" and t["state"] == "REVOKED":
                    out.append({"task_id": t["task_id"], "status": status, "name": t["name"],
                                "queue": t.get("queue", ""), "retries": t["retries"],
                                "eta_ms": now_ms() + 1000 * t["eta_s"] if "eta_s" in t else 0})
        return out


MODEL = Model()


def overview():
    up = uptime_ms()
    ex = executed_at(up)
    failed = ex // 50
    counters = {"tasks_received": ex + 120, "tasks_routed": ex + 120, "tasks_executed": ex,
                "tasks_succeeded": ex - failed, "tasks_failed": failed, "acks": ex + 120,
                "nacks": up // 900, "results_sent": ex, "rx_packets": ex // 16,
                "tx_packets": ex // 8, "tasks_scheduled": 3, "tasks_revoked": 0}
    share = [0.55, 0.45]
    lcores = [{"lcore": 1, "cpu": 1, "role": "io+worker", "busy_ratio": 0.35 + 0.3 * (ex % 7) / 7,
               "tasks_executed": int(ex * share[0])},
              {"lcore": 2, "cpu": 2, "role": "worker", "busy_ratio": 0.95,
               "tasks_executed": ex - int(ex * share[0])}]
    queues = []
    for i, name in enumerate(QUEUES):
        pub = ex // (i + 1)
        queues.append({"name": name, "ready": (up // 100) % 40 * (i + 1), "in_flight": 32 // (i + 1),
                       "workers": 2, "published": pub + 10, "delivered": pub,
                       "publish_rate": 0.0, "deliver_rate": 0.0,
                       "remote_consumers": 2 if i == 0 else 0, "redelivered": ex // 5000 if i == 0 else 0})
    return {"uptime_ms": up, "counters": counters, "lcores": lcores, "queues": queues,
            "remote": {"consumers": 2, "unacked": 32},
            "threads": {"busy": 1, "idle": 3, "abandoned": 0},
            "store_results": ex, "scheduled": len(MODEL.listing("scheduled"))}


def fake_event(seq):
    kinds = ["task-received", "task-started", "task-succeeded", "task-failed", "task-retried",
             "task-progress"]
    kind = kinds[seq % len(kinds)] if seq % 11 else "task-rejected"
    tid = "%016x" % (0x1000 + seq // len(kinds))
    ev = {"type": kind, "task_id": tid, "name": random.choice(NAMES),
          "queue": QUEUES[seq % len(QUEUES)], "timestamp_ms": now_ms()}
    if kind == "task-succeeded":
        ev.update(state="SUCCESS", result=str(seq))
    elif kind == "task-failed":
        ev.update(state="FAILURE", error="fail: <b>always</b> fails")  # markup must stay text
    elif kind == "task-retried":
        ev.update(state="RETRY", retries=1)
    elif kind == "task-progress":
        ev.update(state="PROGRESS", progress={"done": 3, "total": 10})
    elif kind == "task-rejected":
        ev.update(reason="queue-full")
    return ev


class Handler(BaseHTTPRequestHandler):
    fail_api = False
    index = INDEX
    sse_burst = 0
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urlparse(self.path)
        q = parse_qs(u.query)
        if u.path == "/":
            with open(self.index, "rb") as f:
                body = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.fail_api and (u.path.startswith("/api/") or u.path == "/events"):
            self.send_json(503, {"error": "mock: --fail-api"})
        elif u.path == "/api/overview":
            self.send_json(200, overview())
        elif u.path == "/api/tasks":
            status = q.get("status", [""])[0]
            if status not in ("active", "scheduled", "reserved", "revoked"):
                self.send_json(400, {"error": "status: active, scheduled, reserved or revoked"})
            else:
                self.send_json(200, {"tasks": MODEL.listing(status)})
        elif u.path.startswith("/api/tasks/"):
            tid = u.path[len("/api/tasks/"):]
            if len(tid) != 16 or any(c not in "0123456789abcdef" for c in tid):
                self.send_json(404, {"error": "malformed task id '%s'" % tid})
            else:
                self.send_json(200, MODEL.get(tid))
        elif u.path == "/events":
            self.events(q.get("task", [""])[0], q.get("queue", [""])[0])
        else:
            self.send_json(404, {"error": "no such path"})

    def do_POST(self):
        u = urlparse(self.path)
        parts = u.path.split("/")
        if self.fail_api:
            self.send_json(503, {"error": "mock: --fail-api"})
        elif len(parts) == 5 and parts[1:3] == ["api", "tasks"] and parts[4] == "revoke":
            if MODEL.revoke(parts[3]):
                self.send_json(200, {"ok": True})
            else:
                self.send_json(409, {"ok": False, "error": "unknown task %s" % parts[3]})
        else:
            self.send_json(404, {"error": "no such path"})

    def events(self, task, queue):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        seq = 0
        try:
            if self.sse_burst:
                self.wfile.write(b"retry: 500\n\n")
            while not self.sse_burst or seq < self.sse_burst:
                ev = fake_event(seq)
                seq += 1
                if (not task or ev["task_id"] == task) and (not queue or ev["queue"] == queue):
                    self.wfile.write(("event: %s\ndata: %s\n\n" % (ev["type"], json.dumps(ev))).encode())
                if seq % 10 == 0:
                    hb = {"type": "worker-heartbeat", "lcore": 1, "busy_ratio": 0.4,
                          "timestamp_ms": now_ms()}
                    self.wfile.write(("event: worker-heartbeat\ndata: %s\n\n" % json.dumps(hb)).encode())
                self.wfile.flush()
                if not self.sse_burst:
                    time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8099)
    ap.add_argument("--fail-api", action="store_true")
    ap.add_argument("--sse-burst", type=int, default=0)
    ap.add_argument("--index", default=INDEX, help="the page to serve at /")
    a = ap.parse_args()
    Handler.index = a.index
    Handler.fail_api = a.fail_api
    Handler.sse_burst = a.sse_burst
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    print("mock: dashboard on http://127.0.0.1:%d/" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
