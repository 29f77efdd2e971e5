#!/usr/bin/python3
"""Hostile HTTP clients against tw-control, for httpguard_test.sh.

  http_hostile.py HOST PORT slowloris N SECS
      N connections that send a request's headers one byte a second (never
      silent long enough for an idle timeout), reconnecting when cut off;
      meanwhile GET /metrics every 0.5 s; prints the /metrics times and
      how many slow connections the server cut
  http_hostile.py HOST PORT streams N TOKEN
      open N /events streams at once and hold them; prints how many got
      200 and how many 503, and whether /metrics answered meanwhile
  http_hostile.py HOST PORT raw REQUEST_TEXT
      send the request as is (\\r\\n written as \\n in the argument) and
      print the status line
"""
import socket
import sys
import time


def status_of(host, port, request, timeout=5):
    s = socket.create_connection((host, port), timeout=timeout)
    s.sendall(request)
    data = b""
    while b"\r\n" not in data:
        got = s.recv(4096)
        if not got:
            break
        data += got
    s.close()
    return data.split(b"\r\n", 1)[0].decode("latin-1")


def metrics_ms(host, port):
    t0 = time.monotonic()
    line = status_of(host, port, b"GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n" % host.encode())
    ms = (time.monotonic() - t0) * 1000
    if " 200 " not in line + " ":
        raise SystemExit("GET /metrics: %r" % line)
    return ms


def slowloris(host, port, n, secs):
    head = b"GET /api/overview HTTP/1.1\r\nHost: %s\r\nX-Slow: %s\r\n" % (host.encode(), b"a" * 200)
    conns = {}
    cut = opened = 0
    times = []
    end = time.monotonic() + secs
    next_probe = time.monotonic() + 1
    while time.monotonic() < end:
        for i in range(n):
            c = conns.get(i)
            if c is None:
                try:
                    s = socket.create_connection((host, port), timeout=2)
                    s.setblocking(False)
                except OSError:
                    continue
                opened += 1
                conns[i] = c = [s, 0]
            s, off = c
            try:
                if off < len(head):
                    s.send(head[off:off + 1])
                    c[1] += 1
                got = s.recv(1)
                if got == b"":
                    raise ConnectionResetError
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                del conns[i]
                cut += 1
        if time.monotonic() >= next_probe:
            times.append(metrics_ms(host, port))
            next_probe += 0.5
        time.sleep(1.0 if len(times) == 0 else 0.05)
    for c in conns.values():
        c[0].close()
    times.sort()
    print("slowloris: %d connections opened, %d cut off by the server" % (opened, cut))
    print("metrics_ms %s" % " ".join("%.1f" % t for t in times))
    print("median %.1f max %.1f" % (times[len(times) // 2], times[-1]))


def streams(host, port, n, token):
    ok = busy = other = 0
    held = []
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(b"GET /events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n"
                  % (host.encode(), token.encode()))
        data = b""
        while b"\r\n" not in data:
            got = s.recv(4096)
            if not got:
                break
            data += got
        line = data.split(b"\r\n", 1)[0]
        if b" 200 " in line:
            ok += 1
            held.append(s)
        elif b" 503 " in line:
            busy += 1
            s.close()
        else:
            other += 1
            s.close()
    ms = metrics_ms(host, port)
    print("streams: %d open, %d refused 503, %d other; /metrics meanwhile in %.1f ms"
          % (ok, busy, other, ms))
    for s in held:
        s.close()


if __name__ == "__main__":
    h, p, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if cmd == "slowloris":
        slowloris(h, p, int(sys.argv[4]), float(sys.argv[5]))
    elif cmd == "streams":
        streams(h, p, int(sys.argv[4]), sys.argv[5])
    elif cmd == "raw":
        print(status_of(h, p, sys.argv[4].replace("\n", "\r\n").encode()))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
