#!/usr/bin/env bash
# Remote consumers in the event stream and the metrics (run by run.sh in an
# engine's environment), through tw-control's `twctl events`, `twctl list
# consumers` and /metrics:
#  - a consumer (the Python package's Consumer, its socket in the engine's
#    namespace) subscribes: worker-online, named "name@host" as Celery
#    names a worker; worker-heartbeat every 2 s while it is subscribed;
#  - its tasks' task-received, task-started, task-succeeded, task-failed
#    (rejected by the consumer) and task-retried events, those of its runs
#    naming it (hostname "name@host");
#  - its figures (delivered, acked, nacked, in flight, redelivered) in
#    `list consumers --json` and as taskwire_consumer_* series;
#  - it cancels: worker-offline reason "cancelled" with its totals, and it
#    stays gone while its heartbeat thread runs on until close (the reply
#    "unknown consumer" to a late heartbeat must not subscribe it again);
#  - faults: a second consumer vanishes without a word (worker-offline
#    reason "lost", its unacked delivery redelivered, counted for the
#    consumer and for its queue: list queues, taskwire_queue_redelivered_total,
#    twctl status's remote section and the dashboard's /api/overview), and an ack
#    of a delivery the consumer never had is refused.
set -euo pipefail
. "$(dirname "$0")/../../deploy/lib.sh"
. "$TW_DIR/engine.env"
fail() { echo "FAIL: $*"; exit 1; }
[ -n "${TW_METRICS:-}" ] || fail "tw-control printed no metrics address"
"$TW_BUILD/twctl" --socket "$TW_SOCKET" queue declare evq --consumers remote >/dev/null

out=$(TW_PYTHON_GEN="$TW_BUILD/python" PYTHONPATH="$TW_ROOT/clients/python" timeout 90 \
	/usr/bin/python3 - "$TW_ENGINE" "$TW_NETNS" "$TW_BUILD/twctl" "$TW_SOCKET" "$TW_METRICS" \
	<<'EOF' 2>&1
import json, socket, subprocess, sys, time, urllib.request
import taskwire
from taskwire.worker import Consumer

engine, ns, twctl_bin, sock, metrics = sys.argv[1:6]
host = socket.gethostname()

def twctl(*a):
    return subprocess.check_output([twctl_bin, "--socket", sock] + list(a), timeout=15).decode()

def consumers():
    return {int(x["id"], 16): x for x in json.loads(twctl("list", "consumers", "--json"))}

# a follower: events are recorded while one follows
follower = subprocess.Popen([twctl_bin, "--socket", sock, "events", "--json", "--timeout", "60"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def check(cond, what):
    if not cond:
        print("FAIL:", what)
        follower.kill()
        sys.exit(1)
time.sleep(0.6)
c = taskwire.Client(engine=engine, control_socket="", default_queue="evq", netns=ns)
w = Consumer(engine, ["evq"], prefetch=4, heartbeat_ms=200, name="evw", netns_name=ns, hold=False)
w.start()
r_ok = c.publish("ev.ok", [1])
r_rej = c.publish("ev.rej", [2])
r_retry = c.publish("ev.retry", [3])
acked, end = 0, time.monotonic() + 15
while acked < 4 and time.monotonic() < end:
    try:
        d = w.deliveries.get(timeout=0.5)
    except Exception:
        continue
    name = d.task.name
    if name == "ev.ok" or (name == "ev.retry" and d.retries > 0):
        w.ack(d.delivery_tag, "SUCCESS", value=b'"done"')
    elif name == "ev.rej":
        w.ack(d.delivery_tag, "REJECT", error="not for me")
    else:
        w.ack(d.delivery_tag, "RETRY", error="later", countdown_ms=0, max_retries=2)
    acked += 1
check(acked == 4, "4 deliveries acked, got %d" % acked)
check(r_ok.get(timeout=10) == "done", "ev.ok's result")
check(r_retry.get(timeout=10) == "done", "ev.retry's result")
check("rejected by its consumer" in str(r_rej.get(timeout=10, propagate=False)), "ev.rej failed")
check(w.drain_acks(), "acks answered")
# a tag never issued to it: refused, the consumer's figures untouched
bad = (7 << 32) | 0xfff0
w.ack(bad, "SUCCESS")
time.sleep(0.5)
check(w.stats["acks_refused"] == 1, "the unknown tag's ack refused: %s" % w.stats)
time.sleep(2.2)  # a heartbeat round of tw-control's (every 2 s)

x = consumers().get(w.id)
check(x is not None, "evw listed")
want = {"delivered": 4, "acked": 4, "nacked": 1, "unacked": 0, "redelivered": 0}
check(all(x[k] == v for k, v in want.items()), "evw's figures %s, want %s" % (x, want))
text = urllib.request.urlopen("http://%s/metrics" % metrics, timeout=10).read().decode()
lab = '{consumer="%016x",worker="evw@%s"}' % (w.id, host)
for fam, v in (("delivered_total", 4), ("acked_total", 4), ("nacked_total", 1),
               ("redelivered_total", 0), ("in_flight", 0)):
    line = "taskwire_consumer_%s%s %d" % (fam, lab, v)
    check(line in text.splitlines(), "metrics line %s" % line)

# cancel; its heartbeats go on until close: it must stay gone
w.cancel()
time.sleep(0.8)
check(w.id not in consumers(), "evw listed again after its cancel: %s" % consumers().get(w.id))
w.close()

# a consumer that vanishes holding a delivery: lost, the task redelivered
lost = Consumer(engine, ["evq"], prefetch=1, heartbeat_ms=200, name="evlost", netns_name=ns,
                hold=False)
lost.start()
r_lost = c.publish("ev.lost", [4])
d = lost.deliveries.get(timeout=10)
lost.stop.set()         # no cancel, no more heartbeats: as after kill -9
lost.sock.close()
time.sleep(1.2)         # 3 heartbeat intervals and the engine's scan
check(lost.id not in consumers(), "evlost still listed")
again = Consumer(engine, ["evq"], prefetch=1, heartbeat_ms=200, name="evagain", netns_name=ns,
                 hold=False)
again.start()
d2 = again.deliveries.get(timeout=10)
check(d2.task.id == d.task.id and d2.delivery_count == 2, "redelivered to evagain")
# while it holds the redelivery: twctl status and the dashboard's overview show
# the queue's remote consumer, its delivery in flight and the one put back
st = json.loads(twctl("status", "--json"))["remote"]
rq = [x for x in st["queues"] if x["name"] == "evq"]
check(st["consumers"] == 1 and st["unacked"] == 1 and len(rq) == 1 and
      rq[0]["remote_consumers"] == 1 and rq[0]["redelivered"] == 1 and rq[0]["in_flight"] == 1,
      "twctl status --json remote: %s" % st)
human = twctl("status").splitlines()
check("remote   1 consumers subscribed, 1 deliveries unacked" in human and
      any(l.split() == ["evq", "1", "0", "1", "1", str(rq[0]["delivery_limit"])] for l in human),
      "twctl status's remote section: %s" % [l for l in human if "remote" in l or "evq" in l])
token = open(sock + ".token").read().strip()
ov = json.loads(urllib.request.urlopen(urllib.request.Request(
    "http://%s/api/overview" % metrics, headers={"Authorization": "Bearer " + token}),
    timeout=10).read())
oq = [x for x in ov["queues"] if x["name"] == "evq"]
check(ov["remote"] == {"consumers": 1, "unacked": 1} and len(oq) == 1 and
      oq[0]["remote_consumers"] == 1 and oq[0]["redelivered"] == 1,
      "/api/overview: remote %s, evq %s" % (ov.get("remote"), oq))
again.ack(d2.delivery_tag, "SUCCESS", value=b'"again"')
check(r_lost.get(timeout=10) == "again", "ev.lost's result")
# the queue's own figure: one delivery of it put back (evw's reject did not requeue)
q = [x for x in json.loads(twctl("list", "queues", "--json")) if x["name"] == "evq"]
check(len(q) == 1 and q[0]["redelivered"] == 1 and q[0]["remote_consumers"] == 1,
      "evq's redelivered 1 with one consumer: %s" % q)
text = urllib.request.urlopen("http://%s/metrics" % metrics, timeout=10).read().decode()
check('taskwire_queue_redelivered_total{queue="evq"} 1' in text.splitlines(),
      "metrics line taskwire_queue_redelivered_total of evq")
again.drain_acks()
again.cancel()
time.sleep(0.5)
again.close()
c.close()

# every event tw-control kept, oldest first; read again (bounded) until the
# last tasks' and consumers' events are in: tw-control collects the engine's
# records on its own pace, and a sanitized or busy one lags
want = [("%016x" % r_rej.task_id, "task-failed"), ("%016x" % r_ok.task_id, "task-succeeded"),
        ("%016x" % r_retry.task_id, "task-succeeded")]
deadline = time.monotonic() + 10
while True:
    evs = [json.loads(l) for l in twctl("events", "--all", "--json", "--timeout", "1").splitlines()
           if l.startswith("{")]
    have = {(e.get("task_id"), e.get("type")) for e in evs}
    offline = [e for e in evs if e.get("type") == "worker-offline"]
    if (all(w_ in have for w_ in want) and len(offline) >= 2) or time.monotonic() > deadline:
        break
    time.sleep(0.5)
follower.terminate()
follower.wait(timeout=10)

def find(**kw):
    return [e for e in evs if all(e.get(k) == v for k, v in kw.items())]

hid = "%016x" % w.id
on = find(type="worker-online", hostname="evw@" + host, consumer_id=hid)
check(len(on) == 1 and on[0]["freq"] == 0.2, "worker-online of evw: %s" % on)
check(len(find(type="worker-heartbeat", hostname="evw@" + host)) >= 1, "worker-heartbeat of evw")
off = find(type="worker-offline", hostname="evw@" + host, reason="cancelled")
check(len(off) == 1 and off[0]["processed"] == 4 and off[0]["nacked"] == 1 and
      off[0]["delivered"] == 4 and off[0]["active"] == 0, "worker-offline of evw: %s" % off)
check(len(find(type="worker-online", hostname="evw@" + host)) == 1, "evw online once")
off = find(type="worker-offline", hostname="evlost@" + host, reason="lost")
check(len(off) == 1 and off[0]["active"] == 1, "worker-offline (lost) of evlost: %s" % off)
for r, types in ((r_ok, ["task-received", "task-started", "task-succeeded"]),
                 (r_rej, ["task-received", "task-started", "task-failed"]),
                 (r_retry, ["task-received", "task-started", "task-retried", "task-succeeded"])):
    tid = "%016x" % r.task_id
    got = [e["type"] for e in evs if e.get("task_id") == tid]
    for t in types:
        check(t in got, "%s of %s: %s" % (t, tid, got))
    # run by evw: its events name it as its worker-* events do
    names = {e.get("hostname") for e in evs if e.get("task_id") == tid and
             e["type"] in ("task-started", "task-succeeded", "task-failed", "task-retried")}
    check(names == {"evw@" + host}, "hostname of %s's events: %s" % (tid, names))
print("ok: %d events" % len(evs))
EOF
) || fail "$out"
echo "$out"
echo "consumer_events_test: worker events and figures of remote consumers"
