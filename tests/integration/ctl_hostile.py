#!/usr/bin/python3
"""Hostile control-socket clients, for ctlsocket_test.sh.

  ctl_hostile.py SOCKET hold SECONDS IDLE
                                       keep every kind of stalling client and
                                       IDLE more idle ones connected
                                       (reconnecting when cut off) for
                                       SECONDS, then print what was done
  ctl_hostile.py SOCKET probe N        N status round trips, one connection
                                       each; prints each one's time in ms
  ctl_hostile.py SOCKET bomb           send one 4 MiB request of two million
                                       empty bindings, print the answer's error
  ctl_hostile.py SOCKET manybind N     a definitions import of N small bindings
  ctl_hostile.py SOCKET argbomb        250,000 bindings of 7 empty arguments
                                       each (4 MiB that decode to ~25 times that)

Requests are encoded by hand (a 4-byte little-endian length, then a
taskwire.control.Request), so no protobuf module is needed.
"""
import os
import socket
import struct
import sys
import time

STATUS = b"\x0a\x00"            # Request{status: StatusRequest{}}


def frame(body):
    return struct.pack("<I", len(body)) + body


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect(path)
    s.setblocking(False)
    return s


# Each attack: (name, what to send once connected). None sends nothing.
ATTACKS = [
    ("half a request", frame(STATUS * 50)[:40]),
    ("a length and no body", struct.pack("<I", 4 << 20)),
    ("half a length", b"\x10\x00"),
    ("never reads its replies", frame(STATUS) * 20000),
    ("idle", None),
]


def send_some(s, data):
    """Send what the socket takes now. @return bytes not sent yet."""
    try:
        n = s.send(data)
    except (BlockingIOError, InterruptedError):
        return data
    return data[n:]


def hold(path, seconds, idle_extra):
    conns = {}      # key -> [socket, pending bytes]
    opened = 0
    cut = 0
    keys = [(name, i) for name, _ in ATTACKS for i in range(1)]
    keys += [("idle", i) for i in range(1, idle_extra + 1)]
    payload = dict(ATTACKS)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for k in keys:
            c = conns.get(k)
            if c is not None:
                # a cut-off client notices on its next send or read
                try:
                    if c[1]:
                        c[1] = send_some(c[0], c[1])
                    elif k[0] != "never reads its replies":
                        if c[0].recv(1, socket.MSG_PEEK) == b"":
                            raise ConnectionResetError
                except BlockingIOError:
                    pass
                except OSError:
                    c[0].close()
                    del conns[k]
                    cut += 1
                    continue
                continue
            try:
                s = connect(path)
            except OSError:
                continue
            opened += 1
            data = payload[k[0]] or b""
            conns[k] = [s, send_some(s, data) if data else b""]
        time.sleep(0.05)
    for c in conns.values():
        c[0].close()
    print("hostile clients: %d connections opened, %d cut off by the server" % (opened, cut))


def probe(path, n):
    out = []
    for _ in range(n):
        t0 = time.monotonic()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(path)
        s.sendall(frame(STATUS))
        hdr = b""
        while len(hdr) < 4:
            got = s.recv(4 - len(hdr))
            if not got:
                raise SystemExit("probe: closed with no answer")
            hdr += got
        left = struct.unpack("<I", hdr)[0]
        while left > 0:
            got = s.recv(left)
            if not got:
                raise SystemExit("probe: answer cut short")
            left -= len(got)
        s.close()
        out.append((time.monotonic() - t0) * 1000)
        time.sleep(0.2)
    print(" ".join("%.1f" % t for t in out))


def bomb(path, item=b"\x1a\x00", n=2000000):
    bindings = item * n                        # Definitions{bindings: Bind{}} x 2M
    body = b"\x52" + varint(len(bindings)) + bindings   # Request{import_definitions}
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(path)
    s.sendall(frame(body))
    hdr = b""
    while len(hdr) < 4:
        got = s.recv(4 - len(hdr))
        if not got:
            print("bomb: connection closed with no answer")
            return 1
        hdr += got
    n = struct.unpack("<I", hdr)[0]
    resp = b""
    while len(resp) < n:
        got = s.recv(n - len(resp))
        if not got:
            break
        resp += got
    # Response.error is field 2 (tag 0x12): print the printable part
    text = resp.decode("utf-8", "replace")
    print("bomb: %d-byte request answered: %s" % (len(body), text))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[2] == "hold":
        hold(sys.argv[1], float(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) == 4 and sys.argv[2] == "probe":
        probe(sys.argv[1], int(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[2] == "bomb":
        sys.exit(bomb(sys.argv[1]))
    elif len(sys.argv) == 3 and sys.argv[2] == "argbomb":
        # Bind{arguments: Argument{} x 7}: 16 bytes each
        sys.exit(bomb(sys.argv[1], b"\x1a\x0e" + b"\x2a\x00" * 7, 250000))
    elif len(sys.argv) == 4 and sys.argv[2] == "manybind":
        # Bind{source: "x"}: 5 bytes each
        sys.exit(bomb(sys.argv[1], b"\x1a\x03\x0a\x01x", int(sys.argv[3])))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
