"""Following a task from a web page: view tokens for tw-control's HTTP side.

A page (a Django view's template, say) that shows a task's progress live
opens tw-control's WebSocket (or its event stream) itself. It must not be
given tw-control's HTTP token, which reads and revokes every task; the
application signs a *view token* for the one task instead, with that
token as the key, and the page presents it:

    url = taskwire.progress.follow_url(result)    # ws://HOST:PORT/ws?task=ID&view=...

The stream starts with the task's state now (a "task-state" object, so a
page that opens late still learns how it ended), then the task's events
(a group's or a chain's too, by their id). tw-control accepts the token
from any Origin, for that task only, until it expires (at most a day);
it never lets it list tasks or revoke.

The application's process needs read access to tw-control's token file
(SOCKET.token: the control socket's users, e.g. its group).

Token: EXPIRY "." HEX(HMAC-SHA256(key = the HTTP token's hex text,
msg = "taskwire-view " + 16-hex-digit id + " " + EXPIRY)), EXPIRY in Unix
seconds.
"""
import hashlib
import hmac
import json
import os
import time
import urllib.parse

MAX_TTL_S = 24 * 3600


def _task_hex(task):
    """A task id as 16 lowercase hex digits, from an AsyncResult/GroupResult,
    an int, or a hex string."""
    tid = getattr(task, "id", task)
    if isinstance(tid, int):
        value = tid
    else:
        value = int(str(tid), 16)
    if not 0 < value < 1 << 64:
        raise ValueError("task id out of range: %r" % (tid,))
    return "%016x" % value


def _http_token(token=None, token_file=None):
    if token is not None:
        return token.strip()
    if token_file is None:
        sock = os.environ.get("TW_SOCKET")
        if not sock:
            raise ValueError("view tokens need tw-control's HTTP token: pass token= or "
                             "token_file=, or set TW_SOCKET (the token is SOCKET.token)")
        token_file = sock + ".token"
    with open(token_file) as f:
        return f.read().strip()


def view_token(task, ttl=600, token=None, token_file=None, now=None):
    """A view token letting a web page follow `task` for `ttl` seconds."""
    if not 0 < ttl <= MAX_TTL_S:
        raise ValueError("ttl: 1 .. %d seconds" % MAX_TTL_S)
    expiry = int(now if now is not None else time.time()) + int(ttl)
    key = _http_token(token, token_file).encode()
    msg = ("taskwire-view %s %d" % (_task_hex(task), expiry)).encode()
    return "%d.%s" % (expiry, hmac.new(key, msg, hashlib.sha256).hexdigest())


def follow_url(task, http=None, ttl=600, websocket=True, token=None, token_file=None):
    """The URL a page opens to follow `task`: tw-control's WebSocket
    (websocket=True) or its Server-Sent Events stream. http: "HOST:PORT" of
    tw-control's HTTP side (default: $TW_METRICS, as `make up` writes it)."""
    http = http or os.environ.get("TW_METRICS")
    if not http:
        raise ValueError("follow_url needs tw-control's HTTP address (http= or $TW_METRICS)")
    query = urllib.parse.urlencode({
        "task": _task_hex(task),
        "view": view_token(task, ttl=ttl, token=token, token_file=token_file)})
    return "%s://%s/%s?%s" % ("ws" if websocket else "http", http,
                             "ws" if websocket else "events", query)


def page_script_data(task, http=None, ttl=600, **extra):
    """What a page's <script> needs to follow `task`, as a JSON object
    literal safe inside <script> ("</" escaped): {"task": ID, "url":
    follow_url(...)} plus `extra`. Raises ValueError as follow_url does."""
    data = {"task": _task_hex(task), "url": follow_url(task, http=http, ttl=ttl)}
    data.update(extra)
    return json.dumps(data).replace("</", "<\\/")
