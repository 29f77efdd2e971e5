#!/usr/bin/env bash
# Authenticated remote consumers through the real binaries (run by run.sh;
# the test starts an engine of its own with --keys, keys 9 and 10):
#  - tw-worker --key-file --key-id 9 subscribes and runs a task published
#    (signed) to a remote queue: SUCCESS; without a key it is refused
#    (every unsigned frame refused whole, counted frames_refused_mac);
#  - the Python Consumer signs with key 9; one without a key is refused
#    with the engine's reason;
#  - holding a delivery, from the consumer's own socket: an unsigned ack
#    and a forged one (a MAC under a wrong key) are refused whole
#    (frames_refused_mac); an ack signed with another valid key (10) is
#    refused (rc_key_refused), as is a heartbeat under it; the delivery
#    stays the consumer's (unacked 1, key_id 9 in `list consumers`); its
#    own signed ack is taken and the publisher gets that one result.
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"

keys=$TW_DIR/consumer-keys
printf '9 00112233445566778899aabbccddeeff0123456789abcdef\n10 ffeeddccbbaa99887766554433221100\n' \
	>"$keys"
chmod 0600 "$keys"
id="it${TW_IT_TAG:-}ck"
# small pools: this engine runs beside the one run.sh started
tw_engine_start "$id" --keys "$keys" --mbufs 4095 --task-descriptors 4095 ||
	fail "engine with keys"
wpid=
trap '[ -z "$wpid" ] || kill -9 "$wpid" 2>/dev/null; tw_engine_stop "$TW_BUILD/run/$id"' EXIT
. "$TW_BUILD/run/$id/engine.env"
twctl_ns queue declare kq --consumers remote >/dev/null
twctl_ns queue declare kp --consumers remote >/dev/null

# tw-worker without a key: its subscribe is refused whole, it says so
if tw_in_ns timeout 20 "$TW_BUILD/tw-worker" --engine "$TW_ENGINE" -Q kq --name cku \
	>"$TW_DIR/cku.log" 2>&1; then
	fail "an unsigned tw-worker ran"
fi
grep -q "MAC missing or wrong" "$TW_DIR/cku.log" || fail "unsigned tw-worker: $(cat "$TW_DIR/cku.log")"
refused=$(counter frames_refused_mac)
[ "${refused:-0}" -ge 1 ] || fail "unsigned subscribe not counted"

# tw-worker signing with key 9 runs a signed publisher's task
# (ip netns exec, not the tw_in_ns function: $! must be the worker, which it execs)
ip netns exec "$TW_NETNS" "$TW_BUILD/tw-worker" --engine "$TW_ENGINE" -Q kq --name ckw \
	--key-file "$keys" --key-id 9 >"$TW_DIR/ckw.log" 2>&1 &
wpid=$!
out=$(twctl_ns --key-file "$keys" --key-id 9 publish '' kq add '[2,3]' --wait 10) ||
	fail "signed task through tw-worker: $out; $(cat "$TW_DIR/ckw.log")"
grep -q "SUCCESS 5" <<<"$out" || fail "signed task through tw-worker: $out"
kill -TERM "$wpid"
wait "$wpid" || true
kill -0 "$wpid" 2>/dev/null && fail "tw-worker did not stop"
wpid=

out=$(tw_in_ns env TW_PYTHON_GEN="$TW_BUILD/python" PYTHONPATH="$TW_ROOT/clients/python" \
	timeout 60 /usr/bin/python3 - "$TW_ENGINE" "$keys" "$TW_BUILD/twctl" "$TW_SOCKET" <<'EOF' 2>&1
import json, re, subprocess, sys, time
import taskwire
from taskwire import keys
from taskwire._proto import FRAME_MAGIC, wire
from taskwire.worker import Consumer, SubscribeRefused

engine, keyfile, twctl_bin, sock = sys.argv[1:5]

def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)

def twctl(*a):
    return subprocess.check_output([twctl_bin, "--socket", sock] + list(a), timeout=15).decode()

def counter(name):
    # as it_lib.sh's counter: the last key of that name in status --json
    got = re.findall(r'"%s":\s*(\d+)' % name, twctl("status", "--json"))
    return int(got[-1]) if got else 0

try:
    Consumer(engine, ["kp"], name="ck-unsigned", hold=False).start(timeout=3)
    check(False, "an unsigned Consumer subscribed")
except SubscribeRefused as e:
    check("MAC" in str(e), "unsigned Consumer's refusal: %s" % e)

c = taskwire.Client(engine=engine, control_socket="", key_file=keyfile, key_id=9,
                    default_queue="kp")
w = Consumer(engine, ["kp"], prefetch=1, heartbeat_ms=200, name="ckp", hold=False,
             key_file=keyfile, key_id=9)
w.start()
r = c.publish("kp.task", [1])
d = w.deliveries.get(timeout=10)
tag = d.delivery_tag
other = keys.load_key(keyfile, 10)
fid = [1000]

def frame(build, key=None, key_id=9):
    """A frame from the consumer's socket: unsigned (key None) or signed."""
    fid[0] += 1
    f = wire.Frame(magic=FRAME_MAGIC, version=1, frame_id=fid[0])
    build(f)
    data = f.SerializeToString()
    if key is not None:
        data += wire.Frame(key_id=key_id, sent_us=time.time_ns() // 1000).SerializeToString()
        data = keys.sign(data, key)
    w.sock.send(data)

def ack(f):
    f.acks.add(delivery_tag=tag, outcome=wire.ACK_SUCCESS, value=b'"forged"')

mac0, key0 = counter("frames_refused_mac"), counter("rc_key_refused")
frame(ack)                                        # unsigned
frame(ack, key=b"not the key of id 9 at all!!")   # forged: a MAC under a wrong key
time.sleep(0.5)
check(counter("frames_refused_mac") == mac0 + 2, "unsigned and forged acks refused whole: %d"
      % (counter("frames_refused_mac") - mac0))
frame(ack, key=other, key_id=10)                  # another valid key
frame(lambda f: setattr(f.heartbeat, "consumer_id", w.id), key=other, key_id=10)
time.sleep(0.5)
check(counter("rc_key_refused") == key0 + 2, "ack and heartbeat under key 10 refused: %d"
      % (counter("rc_key_refused") - key0))
x = [x for x in json.loads(twctl("list", "consumers", "--json")) if int(x["id"], 16) == w.id]
check(len(x) == 1 and x[0]["unacked"] == 1 and x[0]["acked"] == 0 and x[0].get("key_id") == 9,
      "the delivery still ckp's, key 9: %s" % x)
w.ack(tag, "SUCCESS", value=b'"real"')
check(r.get(timeout=10) == "real", "the consumer's own signed ack made the result")
check(w.drain_acks(), "its ack answered")
w.cancel()
w.close()
c.close()
print("ok")
EOF
) || fail "python consumers: $out"
echo "$out"
tw_engine_stop "$TW_BUILD/run/$id" || fail "keyed engine did not stop"
trap - EXIT
echo "consumer_keys_test: consumer frames signed, unsigned/forged/other-key ones refused and counted"
