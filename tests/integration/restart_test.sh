#!/usr/bin/env bash
# What tw-control holds survives its graceful restart, through the real
# binaries:
#  1. countdown tasks ACKed and held by the scheduler are kept in the store
#     on SIGTERM and held again by the next tw-control (logged, counted in
#     sched_restored): the short ones run when due with their results, the
#     long ones are still listed and can be revoked; a second restart keeps
#     them once, not twice;
#  2. tw-control --reattach-wait 60: tw-dataplane stops and a new one
#     starts with the same file prefix; tw-control waits, attaches to the
#     new one (same pid, "re-attached" logged), serves again and still holds
#     its countdown task;
#  3. an engine started with TW_KEEP_STORE=1 (what `make up` does unless
#     CLEAN=1) keeps the last run's store: a result stored before is still
#     there; without it the store starts empty.
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
py=/usr/bin/python3
field() {
	twctl status --json | $py -c 'import json,sys; print(json.load(sys.stdin)["control"].get(sys.argv[1], 0))' "$1"
}
n=0
restart_control() {
	n=$((n + 1))
	tw_stop_pid "$TW_CTL_PID" || fail "tw-control did not stop"
	cp "$TW_DIR/control.log" "$TW_DIR/control-before-$n.log"
	tw_control_spawn "$TW_DIR" "$TW_PREFIX" "$TW_DIR/control.log"
	TW_CTL_PID=$!
	sed -i "s/^TW_CTL_PID=.*/TW_CTL_PID=$TW_CTL_PID/" "$TW_DIR/engine.env"
	tw_wait_for_line "$TW_DIR/control.log" "tw-control: ready" "$TW_CTL_PID" 30 ||
		fail "tw-control restart: $(cat "$TW_DIR/control.log")"
}

# 1. held tasks across restarts
twctl queue declare rq >/dev/null
short=() long=()
for i in 1 2 3; do
	out=$(publish "" rq add "[$i,$i]" --countdown 25) || fail "publish: $out"
	short+=("$(awk '{print $2}' <<<"$out")")
done
for i in 1 2; do
	out=$(publish "" rq add "[$i,0]" --countdown 900) || fail "publish: $out"
	long+=("$(awk '{print $2}' <<<"$out")")
done
[ "$(field sched_held)" -eq 5 ] || fail "held before: $(field sched_held)"
restart_control
grep -q "5 held tasks kept in the store" "$TW_DIR/control-before-1.log" ||
	fail "not kept: $(tail -3 "$TW_DIR/control-before-1.log")"
grep -q "5 held tasks restored from the store" "$TW_DIR/control.log" ||
	fail "not restored: $(cat "$TW_DIR/control.log")"
[ "$(field sched_held)" -eq 5 ] || fail "held after the restart: $(field sched_held)"
[ "$(field sched_restored)" -eq 5 ] || fail "sched_restored $(field sched_restored)"
restart_control
[ "$(field sched_held)" -eq 5 ] || fail "held after a second restart: $(field sched_held)"
echo "ok: 5 held tasks kept and restored across two restarts"
for i in 0 1 2; do
	out=$(twctl result "${short[$i]}" --wait 40) || fail "short task ${short[$i]}: $out"
	grep -q "SUCCESS" <<<"$out" && grep -q "$((2 * (i + 1)))" <<<"$out" ||
		fail "short task ${short[$i]}: $out"
done
twctl list tasks | grep -q "${long[0]}" || fail "long task not listed: $(twctl list tasks)"
twctl revoke "${long[1]}" >/dev/null || fail "revoke of a restored task"
out=$(twctl result "${long[1]}" --wait 10 || true)
grep -q "REVOKED" <<<"$out" || fail "revoked restored task: $out"
echo "ok: restored tasks ran when due with their results; a long one listed, another revoked"

# 2. tw-dataplane restarted under a waiting tw-control
restart_control_opts() {
	tw_stop_pid "$TW_CTL_PID" || fail "tw-control did not stop"
	tw_control_spawn "$TW_DIR" "$TW_PREFIX" "$TW_DIR/control.log" "$@"
	TW_CTL_PID=$!
	sed -i "s/^TW_CTL_PID=.*/TW_CTL_PID=$TW_CTL_PID/" "$TW_DIR/engine.env"
	tw_wait_for_line "$TW_DIR/control.log" "tw-control: ready" "$TW_CTL_PID" 30 ||
		fail "tw-control restart: $(cat "$TW_DIR/control.log")"
}
restart_control_opts --reattach-wait 60
out=$(publish "" rq add '[5,5]' --countdown 900) || fail "publish: $out"
held_id=$(awk '{print $2}' <<<"$out")
tw_stop_pid "$TW_DP_PID" || fail "tw-dataplane did not stop"
tw_wait_for_line "$TW_DIR/control.log" "waiting up to 60 s for a new tw-dataplane" "$TW_CTL_PID" 15 ||
	fail "tw-control did not wait: $(cat "$TW_DIR/control.log")"
kill -0 "$TW_CTL_PID" || fail "tw-control exited"
tap=twt-$(basename "$TW_DIR")
# the same start as deploy/lib.sh's, same prefix and namespace
# shellcheck disable=SC2086
ip netns exec "$TW_NETNS" "$TW_BUILD/tw-dataplane" --vdev="net_tap0,iface=$tap" --no-pci \
	--file-prefix "$TW_PREFIX" --log-level=lib.eal:error ${TW_EAL_EXTRA:-} -- \
	--ip "$TW_ENGINE_IP" --udp-port "$TW_UDP_PORT" --idle-sleep-us 200 \
	>"$TW_DIR/dataplane2.log" 2>&1 &
TW_DP_PID=$!
sed -i "s/^TW_DP_PID=.*/TW_DP_PID=$TW_DP_PID/" "$TW_DIR/engine.env"
tw_wait_for_line "$TW_DIR/dataplane2.log" "tw-dataplane: ready" "$TW_DP_PID" 60 ||
	fail "tw-dataplane restart: $(cat "$TW_DIR/dataplane2.log")"
ip netns exec "$TW_NETNS" ip addr add "$TW_PEER_IP/24" dev "$tap"
ip netns exec "$TW_NETNS" ip link set "$tap" up
tw_wait_for_line "$TW_DIR/control.log" "re-attached to tw-dataplane pid $TW_DP_PID" "$TW_CTL_PID" 60 ||
	fail "no re-attach: $(cat "$TW_DIR/control.log")"
twctl status >/dev/null || fail "status after the re-attach"
twctl list tasks | grep -q "$held_id" || fail "the held task is gone: $(twctl list tasks)"
twctl queue declare rq2 >/dev/null || fail "declare on the new tw-dataplane"
out=$(publish "" rq2 add '[2,2]' --wait 5) || fail "publish after the re-attach: $out"
echo "ok: tw-control waited for a new tw-dataplane, re-attached (same pid) and kept its held task"

# 3. the store across engine starts: this test's own engine is stopped and
# started again (one engine at a time; the runner stops the last one)
id=$(basename "$TW_DIR")
out=$(publish "" rq2 add '[20,22]' --wait 5) || fail "publish: $out"
kid=$(awk '{print $2}' <<<"$out")
restart_engine() { # TW_KEEP_STORE value
	# the runner writes this test's output to test.log in the engine's
	# directory, which a start empties: the same file, linked out and back
	ln -f "$TW_DIR/test.log" "$TW_BUILD/run/.$id-test.log"
	tw_engine_stop "$TW_DIR" || fail "stop engine $id"
	TW_KEEP_STORE=$1 tw_engine_start "$id" >/dev/null || fail "engine $id did not start"
	ln -f "$TW_BUILD/run/.$id-test.log" "$TW_DIR/test.log"
	rm -f "$TW_BUILD/run/.$id-test.log"
	# shellcheck disable=SC1091
	. "$TW_DIR/engine.env"
}
restart_engine 1
twctl result "$kid" | grep -q "SUCCESS" || fail "result lost with TW_KEEP_STORE=1: $(twctl result "$kid" 2>&1)"
restart_engine 0
twctl result "$kid" >/dev/null 2>&1 && fail "result kept without TW_KEEP_STORE"
echo "ok: the store is kept across engine starts when asked (make up), else started empty"
