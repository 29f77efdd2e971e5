#!/usr/bin/env bash
# A retransmit that reaches the other io lcore (run by run.sh; the test
# starts an engine of its own with two io lcores and two worker lcores on
# a TAP port of four queues). A TAP device steers a flow to the queue the
# engine last sent it on, so a publisher's frames move between io lcores
# as results come back from one worker lcore or the other. A raw
# publisher (one socket, retransmits set) sends tasks, each twice (the
# second copy as its retransmit), and reads from the io lcores' counters
# where each copy arrived, until copies of several tasks arrived on
# different io lcores. Every copy must be answered as a duplicate (its
# confirm again and its result re-sent), no task run twice, and the
# copies that came to the io lcore not owning their source handed on
# (counted steered, none lost). Frames in fragments from several sources
# are put together on the io lcore owning each source and run once.
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
it_engine_two_io "it${TW_IT_TAG:-}sio2"
twctl queue declare stq >/dev/null

out=$(tw_in_ns env TW_PYTHON_GEN="$TW_BUILD/python" PYTHONPATH="$TW_ROOT/clients/python" \
	timeout 120 /usr/bin/python3 - "$TW_ENGINE" "$TW_BUILD/twctl" "$TW_SOCKET" <<'EOF' 2>&1
import json, socket, subprocess, sys, time
from taskwire import cookie
from taskwire._proto import wire

host, port = sys.argv[1].rsplit(":", 1)
twctl = [sys.argv[2], "--socket", sys.argv[3], "status", "--json"]
WANT_CROSSED = 4      # copies that reached the other io lcore
MAX_TASKS = 60        # each task: a coin toss of the worker lcore that answers it

def status():
    return json.loads(subprocess.check_output(twctl, timeout=10))

def io_rx():
    return [l["counters"]["rx_packets"] for l in status()["lcores"] if l["role"] == "io"]

def arrived(before, after):
    """The io lcore that took one datagram between two readings, or None."""
    grew = [i for i in range(len(before)) if after[i] != before[i]]
    return grew[0] if len(grew) == 1 and after[grew[0]] - before[grew[0]] == 1 else None

jar = cookie.CookieJar()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((host, int(port)))
s.settimeout(0.2)

def replies(tid=None, timeout=5.0):
    """Confirms and results until task tid has both (or timeout); with no
    tid, what comes within 0.2 s."""
    got, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            r = wire.Frame()
            r.ParseFromString(s.recv(65536))
        except socket.timeout:
            if tid is None:
                break
            continue
        jar.take(r)
        got += [("confirm", c.task_id, c.ack) for c in r.confirms]
        got += [("result", x.task_id, x.state, x.resent) for x in r.results]
        if tid is not None and {g[0] for g in got if g[1] == tid} == {"confirm", "result"}:
            break
    return got

# the source cookie first (a probe: a frame with nothing to do)
probe = wire.Frame(magic=0x31465754, version=1, frame_id=cookie.PROBE_FRAME_ID)
s.send(jar.seal(probe.SerializeToString()))
replies()
assert jar.value, "no cookie from the engine"

st0 = status()["counters"]
crossed = tasks = 0
for i in range(1, MAX_TASKS + 1):
    tid = 0x5e0000 + i
    f = wire.Frame(magic=0x31465754, version=1, frame_id=i, retransmits=True)
    f.tasks.add(id=tid, name="add", routing_key="stq", args=b"[40,2]")
    data = f.SerializeToString()
    a = io_rx()
    s.send(jar.seal(data))
    first = replies(tid)
    b = io_rx()
    # the same frame again: its publisher's retransmit
    s.send(jar.seal(data))
    again = replies(tid)
    c = io_rx()
    tasks += 1
    if ("confirm", tid, True) not in first or ("result", tid, wire.SUCCESS, False) not in first:
        print("task %d: first copy answered %s" % (i, first)); sys.exit(1)
    # a duplicate: confirmed again, its result re-sent, not a new run's
    if ("confirm", tid, True) not in again or ("result", tid, wire.SUCCESS, True) not in again:
        print("task %d: the retransmit answered %s (run again?)" % (i, again)); sys.exit(1)
    x, y = arrived(a, b), arrived(b, c)
    if x is not None and y is not None and x != y:
        crossed += 1
        print("task %d: first copy on io lcore %d, its retransmit on io lcore %d" % (i, x, y))
        if crossed == WANT_CROSSED:
            break
time.sleep(0.3)
st = status()["counters"]
d = {k: st[k] - st0.get(k, 0) for k in ("tasks_executed", "tasks_duplicate", "results_resent")}
print("tasks %d crossed %d counters %s steered %d" % (tasks, crossed, json.dumps(d), st["steered"]))
if crossed == 0:
    print("no retransmit reached the other io lcore in %d tasks: nothing tested" % tasks); sys.exit(1)
if d["tasks_executed"] != tasks or d["tasks_duplicate"] != tasks or d["results_resent"] != tasks:
    print("want each of %d tasks run once and its copy a duplicate" % tasks); sys.exit(1)
if st["steered"] < crossed:
    print("copies on the wrong io lcore not handed on"); sys.exit(1)
print("ok")
EOF
) || fail "retransmits across io lcores: $out"
echo "$out"

# frames in fragments: a message's pieces must meet on the io lcore owning
# their source, whichever queue each came in on. Eight publishers (eight
# source ports: some owned by the io lcore they arrive on, some not) send
# a 100 kB task each; every one is run once, none left to time out.
out=$(tw_in_ns env TW_PYTHON_GEN="$TW_BUILD/python" PYTHONPATH="$TW_ROOT/clients/python" \
	timeout 120 /usr/bin/python3 - "$TW_ENGINE" "$TW_BUILD/twctl" "$TW_SOCKET" <<'EOF' 2>&1
import json, subprocess, sys
import taskwire
twctl = [sys.argv[2], "--socket", sys.argv[3], "status", "--json"]
def counters():
    s = json.loads(subprocess.check_output(twctl, timeout=10))
    return dict(s["counters"], **{"drop_" + k: v for k, v in s["drops"].items()})
c0 = counters()
clients = [taskwire.Client(engine=sys.argv[1], default_queue="stq") for _ in range(8)]
results = [c.task("noop").delay("x" * 100000) for c in clients]
for r in results:
    r.get(timeout=30)
c1 = counters()
d = {k: c1.get(k, 0) - c0.get(k, 0) for k in
     ("frag_reassembled", "frag_timed_out", "tasks_executed", "steered", "drop_steer_full")}
print("large frames from 8 sources: %s" % json.dumps(d))
assert d["frag_reassembled"] == 8 and d["tasks_executed"] == 8, d
assert d["frag_timed_out"] == 0 and d["drop_steer_full"] == 0, d
for c in clients:
    c.close()
print("ok")
EOF
) || fail "fragments across io lcores: $out"
echo "$out"
drops=$(twctl status --json |
	/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["drops"]["steer_full"])')
[ "$drops" -eq 0 ] || fail "$drops frames lost between io lcores"
tw_engine_stop "$dir" || fail "engine did not stop cleanly"
trap - EXIT
echo "steer_test: a retransmit on either io lcore is a duplicate, never a second run"
