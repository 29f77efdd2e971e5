"""Crash-test helper for durable queues (durable_test.sh).

  durable_pub.py subscribe ENGINE QUEUE[,QUEUE..] [PREFETCH]
                                              a consumer that never acks (default
                                              prefetch 1): the engine's own lcores
                                              leave those queues alone while it is
                                              subscribed; without Subscribe.hold,
                                              so an engine restart forgets it and
                                              its lcores run the recovered tasks
  durable_pub.py publish ENGINE QUEUE N OUT [BASE]
                                              publish N tasks (noop, one per
                                              frame, ids BASE+1..BASE+N), write
                                              each ACKed id to OUT as it comes;
                                              stops at N or when the engine is
                                              gone; prints sent/acked/nacked
  durable_pub.py check SOCKET OUT TIMEOUT [STATE]
                                              every ACKed id in OUT has a
                                              result in STATE (SUCCESS): prints
                                              counts, exit 1 if any is lost
  durable_pub.py dup ENGINE QUEUE ID          one task in a frame marked
                                              retransmits, sent twice at once:
                                              prints when each ACK came (ms)
  durable_pub.py flip FILE OFFSET             invert the byte at OFFSET
  durable_pub.py publish-large ENGINE QUEUE N BYTES OUT
                                              publish N noop tasks with BYTES
                                              of args each through the client
                                              (over one datagram: fragments),
                                              wait for their ACKs, write the
                                              ids to OUT

publish with TW_ETA_MS set: each task is due that many ms after it is sent;
with TW_EXPIRES_MS, it expires that many ms after it is sent; with
TW_TASK_NAME, the tasks have that name (default noop, an engine task).

Raw frames (no retransmits): a confirm is the engine's word about one task.
Each socket proves its source first (the engine answers a frame with
nothing to do with its cookie) and seals every frame with the cookie, as
the clients do.
"""
import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python"))
from taskwire import cookie as ck  # noqa: E402
from taskwire._proto import FRAME_MAGIC, FRAME_VERSION, wire  # noqa: E402
from taskwire.control import ControlClient  # noqa: E402


def addr(engine):
    host, port = engine.rsplit(":", 1)
    return host, int(port)


def proven_socket(engine):
    """A UDP socket connected to the engine, with the engine's cookie."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.connect(addr(engine))
    jar = ck.CookieJar()
    probe = wire.Frame(magic=FRAME_MAGIC, version=FRAME_VERSION, frame_id=ck.PROBE_FRAME_ID)
    for _ in range(10):
        s.send(jar.seal(probe.SerializeToString()))
        r, _, _ = select.select([s], [], [], 0.5)
        if r:
            jar.take(wire.Frame.FromString(s.recv(65536)))
            if jar.value:
                return s, jar
    sys.exit("no source cookie from the engine")


def subscribe(engine, queue, prefetch):
    s, jar = proven_socket(engine)
    f = wire.Frame(magic=FRAME_MAGIC, version=FRAME_VERSION, frame_id=1)
    f.subscribe.consumer_id = 0x5eed
    f.subscribe.name = "durable-test-hold"
    f.subscribe.queues.extend(queue.split(","))
    f.subscribe.prefetch = prefetch
    f.subscribe.heartbeat_ms = 60000
    s.send(jar.seal(f.SerializeToString()))
    r, _, _ = select.select([s], [], [], 5)
    if not r:
        sys.exit("subscribe: no answer")
    reply = wire.Frame.FromString(s.recv(65536))
    if ck.asked(reply):
        sys.exit("subscribe: refused for want of a cookie")
    print("subscribe: subscribed", len(reply.consumers), "answers")


def publish(engine, queue, n, out, base):
    s, jar = proven_socket(engine)
    eta_ms = int(os.environ.get("TW_ETA_MS", "0"))
    expires_ms = int(os.environ.get("TW_EXPIRES_MS", "0"))
    name = os.environ.get("TW_TASK_NAME", "noop")
    acked = nacked = 0
    sent = 0
    frames = {}
    decided = set()
    last_reply = time.monotonic()
    with open(out, "w") as f:
        while True:
            # a window of 64 unconfirmed frames keeps the engine busy without flooding
            while sent < n and sent - acked - nacked < 64:
                sent += 1
                fr = wire.Frame(magic=FRAME_MAGIC, version=FRAME_VERSION, frame_id=sent)
                t = fr.tasks.add()
                t.id = base + sent
                t.name = name
                t.routing_key = queue
                t.args = b"[[], {}]"
                if eta_ms:
                    t.eta_ms = int(time.time() * 1000) + eta_ms
                if expires_ms:
                    t.expires_ms = int(time.time() * 1000) + expires_ms
                frames[sent] = fr.SerializeToString()
                s.send(jar.seal(frames[sent]))
            r, _, _ = select.select([s], [], [], 0.5)
            if not r:
                if time.monotonic() - last_reply > 3:
                    break  # the engine is gone (or everything is confirmed)
                continue
            try:
                data = s.recv(65536)
            except ConnectionRefusedError:
                continue  # an ICMP error: the engine is gone; the silence ends the loop
            last_reply = time.monotonic()
            reply = wire.Frame.FromString(data)
            jar.take(reply)
            if ck.asked(reply):
                # a new cookie epoch: the whole frame was refused, nothing of it ran
                if reply.frame_id in frames:
                    s.send(jar.seal(frames[reply.frame_id]))
                continue
            for c in reply.confirms:
                if c.task_id == 0 or c.task_id in decided:
                    continue
                decided.add(c.task_id)
                frames.pop(c.task_id - base, None)
                if c.ack:
                    acked += 1
                    f.write("%d\n" % c.task_id)
                    f.flush()
                else:
                    nacked += 1
            if sent >= n and acked + nacked >= n:
                break
    print("publish: sent %d acked %d nacked %d" % (sent, acked, nacked))


def check(sock, out, timeout, state="SUCCESS"):
    ids = [int(x) for x in open(out).read().split()]
    if len(set(ids)) != len(ids):
        print("check: an id was confirmed twice")
        sys.exit(1)
    ctl = ControlClient(sock)
    deadline = time.monotonic() + timeout
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        for i in list(pending):
            try:
                r = ctl.result(i)
            except Exception:   # noqa: BLE001 - not known yet
                continue
            if r.state == getattr(wire, state):
                pending.discard(i)
        if pending:
            time.sleep(0.3)
    print("check: confirmed %d completed %d lost %d" % (len(ids), len(ids) - len(pending),
                                                        len(pending)))
    if pending:
        print("check: lost ids (first 10):", sorted(pending)[:10])
        sys.exit(1)


def dup(engine, queue, task_id):
    s, jar = proven_socket(engine)
    fr = wire.Frame(magic=FRAME_MAGIC, version=FRAME_VERSION, frame_id=1, retransmits=True)
    t = fr.tasks.add()
    t.id = task_id
    t.name = "noop"
    t.routing_key = queue
    t.args = b"[[], {}]"
    data = jar.seal(fr.SerializeToString())
    t0 = time.monotonic()
    s.send(data)
    s.send(data)
    acks = []
    end = t0 + 3
    while len(acks) < 2 and time.monotonic() < end:
        r, _, _ = select.select([s], [], [], max(0.0, end - time.monotonic()))
        if not r:
            break
        reply = wire.Frame.FromString(s.recv(65536))
        for c in reply.confirms:
            if c.task_id == task_id:
                acks.append("%s %.1f" % ("ACK" if c.ack else "NACK", (time.monotonic() - t0) * 1e3))
    print("dup:", " ".join(acks))


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


def publish_large(engine, queue, n, size, out):
    from taskwire.client import Client
    c = Client(engine=engine, default_queue=queue)
    ids = []
    for i in range(n):
        # distinct bytes per task: a record mixed up with another's shows
        blob = "".join(chr(97 + (i + k // 1400) % 26) for k in range(size))
        ids.append(c.publish("noop", args=[blob]).task_id)
    if not c.wait_confirms(timeout=30):
        sys.exit("publish-large: not all confirmed in 30 s")
    with open(out, "w") as f:
        f.write("".join("%d\n" % i for i in ids))
    print("publish-large: %d tasks of %d bytes ACKed, %d frames in fragments"
          % (n, size, c.stats().get("frames_fragmented", 0)))
    c.close()


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "subscribe":
        subscribe(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    elif cmd == "publish":
        publish(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5],
                int(sys.argv[6]) if len(sys.argv) > 6 else 0)
    elif cmd == "check":
        check(sys.argv[2], sys.argv[3], float(sys.argv[4]), *sys.argv[5:6])
    elif cmd == "dup":
        dup(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "publish-large":
        publish_large(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    elif cmd == "flip":
        flip(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
