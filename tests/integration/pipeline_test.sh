#!/usr/bin/env bash
# The pipeline plan through the real binaries: an engine whose polling
# lcores are two io lcores and two workers (EAL --lcores maps the four onto
# this machine's two CPUs), on a TAP port, which takes only as many RX as
# TX queues (four): every one of them must be polled, or the flows the
# kernel hashes to an unpolled queue would vanish.
#  1. the plan: 2 io + 2 worker lcores; the port's RX queue count is logged;
#  2. twelve publishers at once (twelve flows, spread over the RX queues by
#     the kernel), the engine stopped for 1 s among them (retransmits):
#     every task ACKed, run once, its result back; both io
#     lcores took frames and both workers ran tasks; the totals add up;
#  3. a chord (members on both workers, the callback by the last to
#     finish) and dead-lettering across the stages;
#  4. bad input: --io-lcores 0 and a pipeline that leaves no worker are
#     refused at start with a message; more io lcores than fit leave one
#     worker (said in the plan).
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
outer=$TW_DIR
id="it${TW_IT_TAG:-}pipe2"
lcores="--lcores 0@0,1@1,2@1,3@0,4@1"

# 4. bad input first (each start fails before it makes anything)
rc=0; ip netns exec "$TW_NETNS" "$TW_BUILD/tw-dataplane" --no-pci --no-huge -m 256 \
	--file-prefix "tw-$id-bad" --vdev=net_null0 $lcores -- --ip 10.9.9.9 --io-lcores 0 \
	>"$outer/bad.txt" 2>&1 || rc=$?
rm -rf "/var/run/dpdk/tw-$id-bad"
[ $rc -ne 0 ] || fail "--io-lcores 0 accepted"
grep -q "io-lcores" "$outer/bad.txt" || fail "--io-lcores 0: message $(tail -3 "$outer/bad.txt")"
rc=0; ip netns exec "$TW_NETNS" "$TW_BUILD/tw-dataplane" --no-pci --no-huge -m 256 \
	--file-prefix "tw-$id-bad" --vdev=net_null0 --lcores 0@0,1@1 -- --ip 10.9.9.9 --plan pipeline \
	>"$outer/bad2.txt" 2>&1 || rc=$?
rm -rf "/var/run/dpdk/tw-$id-bad"
[ $rc -ne 0 ] || fail "a pipeline of one polling lcore accepted"
echo "ok: --io-lcores 0 and a one-lcore pipeline refused at start"

# 1. the plan
TW_EAL_EXTRA="${TW_EAL_EXTRA:-} $lcores" tw_engine_start "$id" --plan pipeline --io-lcores 2 ||
	fail "pipeline engine did not start"
dir=$TW_DIR
trap 'tw_engine_stop "$dir" || true' EXIT
# shellcheck disable=SC1091
. "$dir/engine.env"
log=$dir/dataplane.log
[ "$(grep -c ' io$' "$log")" -eq 2 ] || fail "plan: $(grep -A6 'lcore plan' "$log")"
[ "$(grep -c ' worker$' "$log")" -eq 2 ] || fail "plan: $(grep -A6 'lcore plan' "$log")"
grep -q "taking 4, all polled" "$log" || fail "RX queues not logged: $(grep -i queue "$log")"
echo "ok: plan of 2 io and 2 worker lcores, the TAP port's 4 RX queues all polled"

twctl queue declare bench >/dev/null

# 2. twelve publishers at once
n=10000
pids=()
for i in $(seq 1 12); do
	ip netns exec "$TW_NETNS" "$TW_BUILD/tw-publish-bench" --engine "$TW_ENGINE" --queue bench \
		--count $n --window 256 --json >"$dir/pub$i.json" 2>"$dir/pub$i.err" &
	pids+=($!)
done
# fault: the engine stops for 1 s under the twelve (as a host pause, only
# longer): confirms and results come late, the publishers retransmit, and
# every retransmitted task must be confirmed again, never run again
sleep 0.3
kill -STOP "$TW_DP_PID"
sleep 1
kill -CONT "$TW_DP_PID"
i=0
for p in "${pids[@]}"; do
	i=$((i + 1))
	wait "$p" || fail "publisher $i: $(tail -3 "$dir/pub$i.err") $(cat "$dir/pub$i.json")"
done
twctl status --json >"$dir/status.json"
# each publisher sends one warm-up task before its measured ones
/usr/bin/python3 - "$dir/status.json" $((12 * (n + 1))) "$dir"/pub*.json <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
want = int(sys.argv[2])
retx = sum(json.load(open(f)).get("retransmits", 0) for f in sys.argv[3:])
io = [l for l in s["lcores"] if l["role"] == "io"]
wk = [l for l in s["lcores"] if l["role"] == "worker"]
rx = [l["counters"]["rx_frames"] for l in io]
ex = [l["counters"]["tasks_executed"] for l in wk]
c = s["counters"]
dup, resent = c["tasks_duplicate"], c["results_resent"]
print("io lcores' frames:", rx, "workers' tasks:", ex, "retransmitted frames:", retx,
      "duplicates:", dup, "results sent again:", resent)
assert len(io) == 2 and len(wk) == 2, (len(io), len(wk))
assert all(r > 0 for r in rx), "an io lcore took no frame: %s" % rx
assert all(e > 0 for e in ex), "a worker ran no task: %s" % ex
assert sum(l["counters"]["tasks_executed"] for l in io) == 0, "an io lcore ran tasks"
# a slow engine (sanitized, paused by the host) may see retransmits: each
# is a duplicate, confirmed again, its result sent again, never run again
assert c["tasks_executed"] == want, ("run once", c["tasks_executed"], want)
assert c["tasks_received"] - dup == want, ("received", c["tasks_received"], dup, want)
# (tw-publish-bench sends frames of up to 32 tasks, the client default)
assert dup <= 32 * retx, ("duplicates without retransmits", dup, retx)
# a publisher's first frame may beat its source cookie: NACKed retry-with-cookie, resent at once
assert c["nacks"] == c.get("cookie_missing", 0), (c["nacks"], c.get("cookie_missing"))
assert c["acks"] == want + dup, ("acks", c["acks"], want, dup)
assert c["results_sent"] == want + resent, ("results", c["results_sent"], want, resent)
EOF
echo "ok: 12 publishers x $n tasks, every one ACKed, run once and answered; both io lcores and both workers took part"

# 3. a chord across the stages (members on both workers, the callback by
# the last to finish), and a dead-letter route
echo '{"queue": "bench", "workflow": {"chord": {"header": [{"task": "add", "args": [1, 1]},
	{"task": "add", "args": [2, 2]}, {"task": "add", "args": [3, 3]}], "body": {"task": "tsum"}}}}' \
	>"$dir/chord.json"
out=$(ip netns exec "$TW_NETNS" "$TW_BUILD/twctl" --socket "$TW_SOCKET" --engine "$TW_ENGINE" \
	publish --workflow "$dir/chord.json" --wait 10 2>&1) || fail "chord: $out"
grep -q "SUCCESS 12" <<<"$out" || fail "chord add(1,1), add(2,2), add(3,3) | tsum: $out"
twctl exchange declare dlx fanout >/dev/null
twctl queue declare dead >/dev/null
twctl bind dlx dead >/dev/null
twctl queue declare short --max-length 1 --overflow drop-head --dead-letter-exchange dlx >/dev/null
dead() { twctl status --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["tasks_dead_lettered"])'; }
before=$(dead)
# one publisher's frames carry many tasks each: one frame's run into a queue
# of one drops the head again and again (to "dead", whose workers run them)
ip netns exec "$TW_NETNS" "$TW_BUILD/tw-publish-bench" --engine "$TW_ENGINE" --queue short \
	--count 500 --window 500 --json >"$dir/short.json" 2>&1 || fail "short: $(cat "$dir/short.json")"
after=$(dead)
[ "$after" -gt "$before" ] || fail "nothing dead-lettered from a full drop-head queue"
echo "ok: chord (add x3 | tsum) = 12; $((after - before)) of 501 dead-lettered from a queue of one, every result back"
tw_engine_stop "$dir" || fail "pipeline engine did not stop cleanly"
trap - EXIT
echo "pipeline_test: all passed"
