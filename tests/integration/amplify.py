"""Reflection amplification probe for amplification_test.sh (run inside the
engine's namespace): raw frames from sockets that never prove they receive
(as a forged source address would), bytes in and out counted per workload,
then the same workloads with the cookie round trip, then refused cookies.

Prints one line per check, "key value ..." (the shell asserts on them).
usage: amplify.py ENGINE QUEUE LIFETIME_S
"""
import os
import socket
import sys
import time

from taskwire import cookie as ck
from taskwire._proto import wire

host, port = sys.argv[1].rsplit(":", 1)
ADDR = (host, int(port))
QUEUE = sys.argv[2]
LIFETIME_S = float(sys.argv[3])
MAGIC = 0x31465754
next_id = [1000]


def sock():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # a proven progress workload answers with ~100 kB in a burst: room for
    # it all (root in the test's namespace may force past rmem_max)
    try:
        s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)   # SO_RCVBUFFORCE
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    s.connect(ADDR)
    return s


def collect(s, quiet=0.6, limit=5.0):
    """Every datagram until `quiet` seconds pass without one (bounded by limit)."""
    got, end = [], time.monotonic() + limit
    while time.monotonic() < end:
        s.settimeout(quiet)
        try:
            got.append(s.recv(65536))
        except socket.timeout:
            break
    return got


def task_id():
    next_id[0] += 1
    return next_id[0]


def workload(kind, n_progress=40):
    """A frame's tasks: the three shapes that amplified on the old engine."""
    if kind == "empty":         # 256 empty tasks: each was NACKed on its own
        return [wire.Task() for _ in range(256)]
    if kind == "progress":      # each reports 100 PROGRESS results, then SUCCESS
        return [wire.Task(id=task_id(), name="progress", routing_key=QUEUE, args=b"[100]")
                for _ in range(n_progress)]
    if kind == "retries":       # each fails and is retried 5 times (RETRY results)
        return [wire.Task(id=task_id(), name="fail", routing_key=QUEUE,
                          retry=wire.RetryPolicy(max_retries=5, countdown_ms=0, autoretry=True))
                for _ in range(30)]
    raise ValueError(kind)


def frame(fid, tasks, cookie=None, pad=0):
    f = wire.Frame(magic=MAGIC, version=1, frame_id=fid)
    f.tasks.extend(tasks)
    if cookie:
        f.cookie = cookie
    if pad:
        f.padding = bytes(pad)
    return f.SerializeToString()


def parse(datagrams):
    out = []
    for d in datagrams:
        f = wire.Frame()
        f.ParseFromString(d)
        out.append(f)
    return out


def summary(frames):
    acks = sum(1 for f in frames for c in f.confirms if c.ack)
    nacks = [c.reason for f in frames for c in f.confirms if not c.ack]
    states = {}
    for f in frames:
        for r in f.results:
            n = wire.TaskState.Name(r.state)
            states[n] = states.get(n, 0) + 1
    return acks, nacks, states


# 1. Unproven sources: every workload sent 3 times, each from a socket of
# its own; all they get back is counted.
for kind in ("empty", "progress", "retries"):
    bytes_in = bytes_out = pkts_in = pkts_out = 0
    nack12 = cookies = 0
    for _ in range(3):
        s = sock()
        data = frame(task_id(), workload(kind))
        s.send(data)
        bytes_in += len(data)
        pkts_in += 1
        got = collect(s)
        s.close()
        pkts_out += len(got)
        bytes_out += sum(len(d) for d in got)
        for f in parse(got):
            cookies += len(f.cookie) == 12
            nack12 += any(c.reason == ck.RETRY_WITH_COOKIE and c.task_id == 0 for c in f.confirms)
    # the IPv4 and UDP headers (28 bytes) of each datagram, both ways
    ratio = bytes_out / bytes_in
    wire_ratio = (bytes_out + 28 * pkts_out) / (bytes_in + 28 * pkts_in)
    print("unverified %s in %d out %d packets_in %d packets_out %d ratio %.3f wire_ratio %.3f "
          "nack12 %d cookies %d" % (kind, bytes_in, bytes_out, pkts_in, pkts_out, ratio,
                                     wire_ratio, nack12, cookies))

# 2. The same workloads from a source that proves it receives: the
# refusal's cookie, the frame again with it; the tasks run.
for kind in ("empty", "progress", "retries"):
    s = sock()
    tasks = workload(kind, n_progress=20)   # 2,000 PROGRESS results: a reader's pace
    fid = task_id()
    first = frame(fid, tasks)
    s.send(first)
    reply = parse(collect(s, quiet=0.5))
    cookie = next((bytes(f.cookie) for f in reply if f.cookie), b"")
    again = frame(fid, tasks, cookie=cookie)
    s.send(again)
    got = collect(s, quiet=1.0, limit=8.0)
    acks, nacks, states = summary(parse(got))
    out = sum(len(d) for d in got)
    print("verified %s tasks %d cookie %d acks %d nacks %d progress %d success %d retry %d "
          "failure %d in %d out %d ratio %.1f" % (
              kind, len(tasks), len(cookie), acks, len(nacks), states.get("PROGRESS", 0),
              states.get("SUCCESS", 0), states.get("RETRY", 0), states.get("FAILURE", 0),
              len(first) + len(again), out, out / (len(first) + len(again))))
    s.close()

# 3. Cookies refused: another port's, forged, damaged, expired. Each is a
# retry-with-cookie refusal (a fresh cookie, nothing run), within budget.
a, b = sock(), sock()
probe = [wire.Task(id=task_id(), name="noop", routing_key=QUEUE)]
a.send(frame(task_id(), probe, pad=40))
a_cookie = next(bytes(f.cookie) for f in parse(collect(a, quiet=0.5)) if f.cookie)
made = time.monotonic()


def refused(s, cookie, label):
    data = frame(task_id(), [wire.Task(id=task_id(), name="noop", routing_key=QUEUE)],
                 cookie=cookie)
    s.send(data)
    got = collect(s, quiet=0.5)
    acks, nacks, _ = summary(parse(got))
    print("refused %s acks %d nacks %s in %d out %d" % (
        label, acks, ",".join(map(str, nacks)) or "-", len(data), sum(len(d) for d in got)))


refused(b, a_cookie, "other-port")
forged = a_cookie[:4] + os.urandom(8)           # the live epoch, a made-up tag
refused(a, forged, "forged")
refused(a, a_cookie[:11], "damaged")
# a cookie lives one to two lifetimes: wait out two
time.sleep(max(0.0, 2 * LIFETIME_S + 0.3 - (time.monotonic() - made)))
refused(a, a_cookie, "expired")

# 4. Refusals that do not fit what was sent are not sent: a bare 16-byte
# frame, a 20-byte malformed one, a subscribe of a would-be consumer.
c = sock()
bare = wire.Frame(magic=MAGIC, version=1, frame_id=task_id()).SerializeToString()
c.send(bare)
print("bare in %d out %d" % (len(bare), sum(len(d) for d in collect(c, quiet=0.5))))
bad = bare[:16] + b"\x22\x05\x09\x00"            # a task whose bytes do not decode
c.send(bad)
print("malformed in %d out %d" % (len(bad), sum(len(d) for d in collect(c, quiet=0.5))))
sub = wire.Frame(magic=MAGIC, version=1, frame_id=task_id())
sub.subscribe.consumer_id = 77
sub.subscribe.queues.append(QUEUE)
sub.subscribe.prefetch = 16
data = sub.SerializeToString()
c.send(data)
raw = collect(c, quiet=0.8)
got = parse(raw)
print("subscribe in %d out %d consumers %d deliveries %d" % (
    len(data), sum(len(d) for d in raw), sum(len(f.consumers) for f in got),
    sum(len(f.deliveries) for f in got)))

# 5. A frame too large for one datagram, in fragments from a source that
# never proves it receives: nothing of it is kept or run, and the only
# answer is one retry-with-cookie to its first piece, no larger than it.
from taskwire import fragment   # noqa: E402 - with the section that uses it

s = sock()
fid = task_id()
data = frame(fid, workload("progress", n_progress=200))
pieces = fragment.split(data, fid, fid)
for p in pieces:
    s.send(p)
got = collect(s, quiet=0.8)
s.close()
nack12 = sum(1 for f in parse(got)
             for c in f.confirms if c.reason == ck.RETRY_WITH_COOKIE and c.task_id == 0)
print("unverified-fragments in %d out %d pieces %d first %d replies %d largest %d nack12 %d"
      % (sum(map(len, pieces)), sum(map(len, got)), len(pieces), len(pieces[0]), len(got),
         max(map(len, got), default=0), nack12))
