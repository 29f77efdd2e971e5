"""HTTP, SSE and WebSocket client for the tests (Python standard library).

    http_client.py get|post URL            print status and body
    http_client.py sse URL TASK_ID SECS    print each event (type, id, result) of TASK_ID
                                           ("*": any task) until a final one (or SECS pass)
    http_client.py ws URL TASK_ID SECS     the same over a WebSocket, checking the
                                           handshake's Sec-WebSocket-Accept

Requests carry "Authorization: Bearer TOKEN" with tw-control's HTTP token:
$TW_HTTP_TOKEN, else the file $TW_SOCKET.token; TW_HTTP_TOKEN="" sends none.
"""
import base64
import hashlib
import http.client
import json
import os
import socket
import struct
import sys
import time
import urllib.parse

FINAL = {"task-succeeded", "task-failed", "task-revoked", "task-rejected"}


def token_headers():
    tok = os.environ.get("TW_HTTP_TOKEN")
    if tok is None:
        try:
            with open(os.environ.get("TW_SOCKET", "") + ".token") as f:
                tok = f.read().strip()
        except OSError:
            tok = ""
    return {"Authorization": "Bearer " + tok} if tok else {}


def split(url):
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port, u.path + ("?" + u.query if u.query else "")


def plain(method, url):
    host, port, path = split(url)
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.request(method, path, headers=token_headers())
    r = c.getresponse()
    print(r.status)
    print(r.read().decode())


def sse_events(url, secs, headers=None):
    """Each event (a dict) of the stream at url, for up to secs seconds."""
    host, port, path = split(url)
    c = http.client.HTTPConnection(host, port, timeout=secs)
    c.request("GET", path, headers=token_headers() if headers is None else headers)
    r = c.getresponse()
    assert r.status == 200, (r.status, r.read())
    assert r.getheader("Content-Type") == "text/event-stream"
    end = time.time() + secs
    yield {"type": "ready"}
    while time.time() < end:
        line = r.fp.readline().decode()
        if line.startswith("data: "):
            yield json.loads(line[6:])


def ws_events(url, secs, headers=None):
    """Each event (a dict) of the WebSocket at url, for up to secs seconds,
    after checking the handshake's Sec-WebSocket-Accept. Closing the
    generator sends a (masked) close frame."""
    host, port, path = split(url)
    s = socket.create_connection((host, port), timeout=secs)
    key = base64.b64encode(os.urandom(16)).decode()
    extra = "".join("%s: %s\r\n" % kv for kv in
                    (token_headers() if headers is None else headers).items())
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
               % (path, host, port, key, extra)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b1 = s.recv(1)
        if not b1:
            raise EOFError("connection closed during the handshake: %r" % head)
        head += b1
    lines = head.decode().split("\r\n")
    assert lines[0].startswith("HTTP/1.1 101"), lines[0]
    want = base64.b64encode(hashlib.sha1(
        (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    got = [l.split(":", 1)[1].strip() for l in lines if l.lower().startswith("sec-websocket-accept")]
    assert got == [want], (got, want)
    end = time.time() + secs

    def read(n):
        b = b""
        while len(b) < n:
            chunk = s.recv(n - len(b))
            if not chunk:
                raise EOFError
            b += chunk
        return b

    try:
        yield {"type": "ready"}
        while time.time() < end:
            h = read(2)
            op, n = h[0] & 0x0f, h[1] & 0x7f
            if n == 126:
                n = struct.unpack(">H", read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", read(8))[0]
            data = read(n)
            if op == 1:
                yield json.loads(data.decode())
    finally:
        try:
            s.sendall(bytes([0x88, 0x80]) + os.urandom(4))
        except OSError:
            pass
        s.close()


def follow(events, task):
    """Print the events of task ("*": any) from an event generator until a final one."""
    for ev in events:
        if ev["type"] == "ready":
            print("ready", flush=True)
        elif task in ("*", ev.get("task_id")) and "task_id" in ev:
            print(ev["type"], ev["task_id"], ev.get("result", ev.get("error", "")), flush=True)
            if ev["type"] in FINAL:
                events.close()
                return


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd in ("get", "post"):
        plain(cmd.upper(), sys.argv[2])
    elif cmd == "sse":
        follow(sse_events(sys.argv[2], float(sys.argv[4])), sys.argv[3])
    else:
        follow(ws_events(sys.argv[2], float(sys.argv[4])), sys.argv[3])
