#!/usr/bin/env bash
# Replay of signed frames through the real binaries (run by run.sh; the
# test starts an engine of its own with --keys, a replay window of 5 s):
#  - twctl and the Python client sign with sent_us and are taken;
#  - a captured signed frame sent again is refused (NACK access-refused
#    "frame replayed"), from its own socket or another one, and runs once;
#  - its publisher's retransmit (same socket, retransmits set) is taken and
#    confirmed again as a duplicate, not run again;
#  - a frame signed 1 hour ago, or with no sent_us, is refused;
#  - every refusal is counted (frames_refused_replay).
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"

keys=$TW_DIR/replay-keys
printf '9 00112233445566778899aabbccddeeff0123456789abcdef\n' >"$keys"
chmod 0600 "$keys"
id="it${TW_IT_TAG:-}rpk"
# small pools: this engine runs beside the one run.sh started, on hugepages
# other tests share
tw_engine_start "$id" --keys "$keys" --replay-window-s 5 --mbufs 4095 --task-descriptors 4095 ||
	fail "engine with keys"
trap 'tw_engine_stop "$TW_BUILD/run/$id"' EXIT
. "$TW_BUILD/run/$id/engine.env"
twctl_ns queue declare rq >/dev/null
out=$(twctl_ns --key-file "$keys" --key-id 9 publish '' rq add '[1,2]' --wait 5) || fail "twctl signed: $out"
grep -q "SUCCESS 3" <<<"$out" || fail "twctl signed: $out"

# A publisher of raw frames: each line of the report is what one send got
# back (ACK, NACK and its detail, results by state).
out=$(tw_in_ns env TW_PYTHON_GEN="$TW_BUILD/python" PYTHONPATH="$TW_ROOT/clients/python" \
	/usr/bin/python3 - "$TW_ENGINE" "$keys" <<'EOF' 2>&1
import socket, sys, time
from taskwire import keys
from taskwire._proto import wire

host, port = sys.argv[1].rsplit(":", 1)
key = keys.load_key(sys.argv[2], 9)

def frame(fid, tid, retransmits=False, sent_us=None):
    f = wire.Frame(magic=0x31465754, version=1, frame_id=fid, retransmits=retransmits,
                   key_id=9)
    if sent_us is not None:
        f.sent_us = sent_us
    f.tasks.add(id=tid, name="add", routing_key="rq", args=b"[20,22]")
    return keys.sign(f.SerializeToString(), key)

def sock():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((host, int(port)))
    s.settimeout(0.5)
    return s

def send(s, data, label):
    s.send(data)
    got = []
    try:
        while True:
            r = wire.Frame()
            r.ParseFromString(s.recv(65536))
            for c in r.confirms:
                got.append("ACK" if c.ack else "NACK %d %s" % (c.reason, c.detail))
            for res in r.results:
                got.append("%s %s" % (wire.TaskState.Name(res.state), res.value.decode()))
    except socket.timeout:
        pass
    print("%s: %s" % (label, "; ".join(got) or "nothing"))

now = lambda: time.time_ns() // 1000
a, b = sock(), sock()
captured = frame(1, 101, sent_us=now())
send(a, captured, "first")
send(a, captured, "again-same-socket")
send(b, captured, "again-other-socket")
retx = frame(2, 102, retransmits=True, sent_us=now())
send(a, retx, "retransmitting-first")
send(a, retx, "retransmit")
send(b, retx, "retransmit-other-socket")
send(a, frame(3, 103, sent_us=now() - 3600 * 10**6), "an-hour-old")
send(a, frame(4, 104, sent_us=now() + 3600 * 10**6), "an-hour-ahead")
send(a, frame(5, 105), "no-sent-us")
EOF
) || fail "raw publisher: $out"
echo "$out"
line() { grep "^$1: " <<<"$out" | cut -d' ' -f2-; }
[ "$(line first)" = "ACK; SUCCESS 42" ] || fail "first: $(line first)"
for l in again-same-socket again-other-socket retransmit-other-socket; do
	[[ "$(line $l)" == "NACK 9 frame replayed"* ]] || fail "$l: $(line $l)"
done
[ "$(line retransmitting-first)" = "ACK; SUCCESS 42" ] || fail "retransmitting: $(line retransmitting-first)"
# confirmed again, its result sent again (resent), never run twice
[[ "$(line retransmit)" == "ACK"* ]] || fail "retransmit: $(line retransmit)"
for l in an-hour-old an-hour-ahead no-sent-us; do
	[[ "$(line $l)" == "NACK 9 frame outside the replay window"* ]] ||
		fail "$l: $(line $l)"
done
n=$(counter frames_refused_replay)
[ "${n:-0}" -eq 6 ] || fail "replays counted: ${n:-none} (want 6)"
# the twctl task, the first frame, the retransmitting frame: three runs
n=$(counter tasks_executed)
[ "${n:-0}" -eq 3 ] || fail "tasks run: ${n:-none} (want 3)"

# the Python client signs with sent_us too
out=$(tw_in_ns env TW_PYTHON_GEN="$TW_BUILD/python" PYTHONPATH="$TW_ROOT/clients/python" \
	/usr/bin/python3 -c '
import sys, taskwire
c = taskwire.Client(engine=sys.argv[1], control_socket="", key_file=sys.argv[2], key_id=9,
                    default_queue="rq")
print(c.task("add").delay(2, 5).get(timeout=5))
c.close()' "$TW_ENGINE" "$keys" 2>&1) || fail "python client, signed: $out"
[ "$out" = 7 ] || fail "python client, signed: $out"
tw_engine_stop "$TW_BUILD/run/$id" || fail "keyed engine did not stop"
trap - EXIT
echo "ok: signed frames taken once within the replay window, replays refused and counted"
