"""viewtoken_test.sh's client: a web page following one task with a view
token (clients/python/taskwire/progress.py), and what such a token must
not open. Each check prints "ok: ..." or raises.

    view_follow.py live  BASE TASK_ID    the stream of a task not run yet
    view_follow.py late  BASE TASK_ID    after it ended: its state comes first
    view_follow.py refused BASE TASK_ID OTHER_ID   what a view token must not open
    view_follow.py page  BASE TASK_ID    the shop example's page for the task
Environment: TW_SOCKET (its .token file is the key), TW_METRICS (the page's),
/usr/bin/python3.
"""
import http.client
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "clients", "python"))
import http_client  # noqa: E402
from taskwire import progress  # noqa: E402

# a page of the application: another origin, no Authorization header
PAGE = {"Origin": "http://127.0.0.1:8000"}
FINAL = http_client.FINAL


def ws_url(base, task, view):
    return "%s/ws?task=%s&view=%s" % (base.replace("http://", "ws://", 1), task, view)


def status(method, base, path, headers=PAGE):
    host, port, p = http_client.split(base + path)
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.request(method, p, headers=headers)
    r = c.getresponse()
    body = r.read().decode(errors="replace")
    return r.status, body


def live(base, task):
    url = ws_url(base, task, progress.view_token(task, ttl=60))
    seen = []
    for ev in http_client.ws_events(url.replace("ws://", "http://", 1), 20, headers=PAGE):
        if ev["type"] == "ready":
            continue
        seen.append((ev["type"], ev.get("state")))
        if ev["type"] in FINAL:
            break
    assert seen[0][0] == "task-state" and seen[0][1] == "PENDING", seen
    types = [t for t, _ in seen]
    assert "task-progress" in types and types[-1] == "task-succeeded", types
    print("ok: a page followed task %s live with a view token from another origin: %s"
          % (task, " ".join(types)))


def late(base, task):
    url = ws_url(base, task, progress.view_token(task, ttl=60))
    events = http_client.ws_events(url.replace("ws://", "http://", 1), 5, headers=PAGE)
    next(events)  # ready
    first = next(events)
    events.close()
    assert first["type"] == "task-state" and first["state"] == "SUCCESS", first
    assert first["task_id"] == task and str(first["result"]) == "5", first
    sse = http_client.sse_events("%s/events?task=%s&view=%s" % (base, task, progress.view_token(task)),
                                 5, headers=PAGE)
    next(sse)
    first = next(sse)
    sse.close()
    assert first["type"] == "task-state" and first["state"] == "SUCCESS", first
    st, body = status("GET", base, "/api/tasks/%s?view=%s" % (task, progress.view_token(task)))
    assert st == 200 and '"SUCCESS"' in body, (st, body)
    print("ok: a late page got the task's end first (WebSocket and SSE), and its state over the API")


def refused(base, task, other):
    good = progress.view_token(task)
    key = progress._http_token()
    cases = [
        ("another task's token", "/ws?task=%s&view=%s" % (other, good)),
        ("expired", "/ws?task=%s&view=%s" % (task, progress.view_token(task, ttl=60, now=time.time() - 120))),
        ("living past a day", "/ws?task=%s&view=%s" % (
            task, progress.view_token(task, ttl=600, token=key, now=time.time() + 2 * 86400))),
        ("tampered", "/ws?task=%s&view=%s" % (task, good[:-1] + ("0" if good[-1] != "0" else "1"))),
        ("malformed", "/ws?task=%s&view=%s" % (task, "abc")),
        ("signed with another key", "/ws?task=%s&view=%s" % (task, progress.view_token(task, token="0" * 64))),
        ("another task over the API", "/api/tasks/%s?view=%s" % (other, good)),
    ]
    for what, path in cases:
        st, body = status("GET", base, path)
        assert st == 401, (what, st, body)
    # what no view token opens: the page's origin is foreign to them (403),
    # and without an Origin they need the HTTP token (401)
    for method, path in (("GET", "/api/tasks?view=%s" % good),
                         ("POST", "/api/tasks/%s/revoke?view=%s" % (task, good))):
        st, body = status(method, base, path)
        assert st == 403, (method, path, st, body)
        st, body = status(method, base, path, headers={})
        assert st == 401, (method, path, "no Origin", st, body)
    st, body = status("GET", base, "/ws?task=%s" % task)
    assert st == 403, ("a foreign origin without a view token", st, body)
    print("ok: refused: %s; the task list and revoke; a foreign origin without one (403)"
          % ", ".join(w for w, _ in cases))


def page(base, task):
    """examples/shop's page for a task (rendered by Django's test client):
    it carries a view token, never tw-control's token, and its URL works."""
    shop = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "shop")
    sys.path.insert(0, os.path.abspath(shop))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    import django
    django.setup()
    from django.test import Client
    r = Client().get("/tasks/%s/progress/" % task)
    html = r.content.decode()
    assert r.status_code == 200, (r.status_code, html)
    assert progress._http_token() not in html, "the page carries tw-control's own token"
    m = re.search(r"const follow = (\{.*?\});", html)
    assert m, html
    follow = json.loads(m.group(1).replace("<\\/", "</"))
    assert follow["task"] == task and "view=" in follow["url"], follow
    events = http_client.ws_events(follow["url"].replace("ws://", "http://", 1), 5, headers=PAGE)
    next(events)
    first = next(events)
    events.close()
    assert first["type"] == "task-state" and first["state"] == "SUCCESS", first
    print("ok: the shop's page for task %s follows it with a view token: %s" % (task, first["state"]))


if __name__ == "__main__":
    {"live": live, "late": late, "refused": refused, "page": page}[sys.argv[1]](*sys.argv[2:])
