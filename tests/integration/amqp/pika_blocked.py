"""connection.blocked / unblocked through tw-amqp, run by
amqp_blocked_test.sh against an engine of 2,047 task descriptors: pika
(unmodified) publishes with confirms into a queue nobody consumes until
the engine refuses (basic.nack), then its blocked callback must fire;
raw clients with and without the capability; a purge frees the engine
and the blocked clients are unblocked."""
import os
import socket
import struct
import sys
import time

import pika
from pika.exceptions import NackError

PORT = int(os.environ.get("AMQP_PORT", "5672"))
HEADER = b"AMQP\x00\x00\x09\x01"


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


def shortstr(s):
    s = s.encode()
    return bytes([len(s)]) + s


def longstr(b):
    return struct.pack(">I", len(b)) + b


def method(ch, cls, mth, args=b""):
    p = struct.pack(">HH", cls, mth) + args
    return struct.pack(">BHI", 1, ch, len(p)) + p + b"\xce"


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("closed")
        b += c
    return b


def read_method(s):
    while True:
        t, ch, n = struct.unpack(">BHI", recv_exact(s, 7))
        p = recv_exact(s, n)
        recv_exact(s, 1)
        if t == 1:
            cls, mth = struct.unpack(">HH", p[:4])
            return cls, mth, p[4:]


def raw_client(blocked_capability):
    """A client speaking raw AMQP; it announces connection.blocked or not."""
    s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    s.sendall(HEADER)
    read_method(s)
    caps = b""
    if blocked_capability:
        caps = shortstr("connection.blocked") + b"t\x01"
    props = shortstr("capabilities") + b"F" + longstr(caps)
    s.sendall(method(0, 10, 11, longstr(props) + shortstr("PLAIN") +
                     longstr(b"\x00guest\x00guest") + shortstr("en_US")))
    read_method(s)  # tune
    s.sendall(method(0, 10, 31, struct.pack(">HIH", 0, 131072, 0)))
    s.sendall(method(0, 10, 40, shortstr("/") + shortstr("") + b"\x00"))
    cls, mth, _ = read_method(s)
    assert (cls, mth) == (10, 41), (cls, mth)
    return s


def next_method_within(s, seconds):
    s.settimeout(seconds)
    try:
        return read_method(s)
    except socket.timeout:
        return None
    finally:
        s.settimeout(10)


def main():
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", PORT, "/", pika.PlainCredentials("guest", "guest"), socket_timeout=10))
    events = []
    conn.add_on_connection_blocked_callback(
        lambda c, m: events.append(("blocked", m.method.reason)))
    conn.add_on_connection_unblocked_callback(lambda c, m: events.append(("unblocked", None)))
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare("blk.fill")
    n, nacked = 0, False
    t0 = time.monotonic()
    while n < 5000 and not nacked:
        try:
            ch.basic_publish("", "blk.fill", b"x" * 64)
            n += 1
        except NackError:
            nacked = True
    check(nacked and n >= 200, "the engine refused after %d waiting messages (basic.nack) in "
          "%.1f s" % (n, time.monotonic() - t0))
    end = time.monotonic() + 3
    while not events and time.monotonic() < end:
        conn.process_data_events(time_limit=0.1)
    check(events[:1] and events[0][0] == "blocked" and "descriptors" in events[0][1],
          "pika's blocked callback: %r" % (events[:1],))

    told = raw_client(True)
    m = next_method_within(told, 2)
    check(m is not None and m[:2] == (10, 60) and b"descriptors" in m[2],
          "a client with the capability is told connection.blocked when it connects")
    quiet = raw_client(False)
    check(next_method_within(quiet, 1) is None,
          "a client without the capability is told nothing")

    ok = ch.queue_purge("blk.fill")
    check(ok.method.message_count == n, "purged the %d waiting messages" % n)
    end = time.monotonic() + 5
    while len(events) < 2 and time.monotonic() < end:
        conn.process_data_events(time_limit=0.1)
    check(len(events) == 2 and events[1][0] == "unblocked",
          "pika's unblocked callback after the purge: %r" % events)
    m = next_method_within(told, 3)
    check(m is not None and m[:2] == (10, 61), "the raw client is told connection.unblocked")
    check(next_method_within(quiet, 0.5) is None, "the other one still nothing")
    ch.basic_publish("", "blk.fill", b"again")
    check(True, "publishing is confirmed again")
    ch.queue_delete("blk.fill")
    told.close()
    quiet.close()
    conn.close()
    print("blocked scenario: all passed")


if __name__ == "__main__":
    main()
