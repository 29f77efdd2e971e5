#!/usr/bin/env bash
# At-least-once delivery over a lossy, reordering link (run by run.sh in an
# engine's environment). 5% of the datagrams are lost and 5% swapped with
# the next one in each direction between
# the publisher (libtaskwire, in tw-publish-bench) and the engine: with
# netem when the kernel has it, else through tests/integration/
# lossy_relay.py (this machine's kernel has no sch_netem). libtaskwire
# retransmits; the engine confirms duplicates again and re-sends results
# without running anything twice. Every task must end with exactly one
# result (the adds checked for correctness), none lost, and the engine
# must have run each task once.
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
N=3000

twctl queue declare lossq >/dev/null
relay_pid=
cleanup() {
	[ -n "$relay_pid" ] && tw_stop_pid "$relay_pid"
	tw_in_ns tc qdisc del dev "twt-${TW_NETNS#tw-}" root 2>/dev/null || true
}
trap cleanup EXIT
tap="twt-${TW_NETNS#tw-}"
if tw_in_ns tc qdisc add dev "$tap" root netem delay 1ms reorder 5% loss 5% 2>/dev/null; then
	how="netem loss 5%, reorder 5% (publisher to engine)"
	target=$TW_ENGINE
else
	# ip netns exec execs python: $! is the relay itself (a function would fork)
	ip netns exec "$TW_NETNS" /usr/bin/python3 "$TW_ROOT/tests/integration/lossy_relay.py" \
		"$TW_PEER_IP:6000" "$TW_ENGINE" 5 42 5 >"$TW_DIR/relay.log" 2>&1 &
	relay_pid=$!
	tw_wait_for_line "$TW_DIR/relay.log" "relay ready" "$relay_pid" 10 || fail "relay did not start"
	how="lossy relay, 5% lost and 5% reordered each way"
	target=$TW_PEER_IP:6000
fi
executed0=$(counter tasks_executed)
# A window of 64 add tasks is two or three datagrams sent back to back,
# so a datagram the relay holds back is usually overtaken by the next one
# (a swap). With a window of 8 every window was one datagram: the relay
# waited in vain for a next one, let the held one go after 50 ms, and a
# run could end with nothing swapped (seen once).
out=$(tw_in_ns "$TW_BUILD/tw-publish-bench" --engine "$target" --queue lossq --task add \
	--args '[40,2]' --count $N --window 64 --drain 30 --json) || fail "bench: $out"
executed=$(($(counter tasks_executed) - executed0))
dups=$(counter tasks_duplicate)
resent=$(counter results_resent)
grep -q "\"sent\": $N, \"acked\": $N, \"nacked\": 0, \"results\": $N, \"succeeded\": $N" <<<"$out" ||
	fail "not every task ended in one SUCCESS: $out"
grep -q '"lost": 0' <<<"$out" || fail "tasks lost: $out"
grep -q '"duplicates": 0' <<<"$out" || fail "a task got two results: $out"
retx=$(grep -o '"retransmits": [0-9]*' <<<"$out" | cut -d' ' -f2)
[ "$retx" -gt 0 ] || fail "no retransmits: the loss did not happen? $out"
# the bench's warm-up task runs too
[ "$executed" -eq $((N + 1)) ] || fail "engine ran $executed tasks for $((N + 1)) published (run twice?)"
[ "$dups" -gt 0 ] || fail "no duplicate reached the engine"
was_relay=$relay_pid
cleanup
relay_pid=
trap - EXIT
if [ -n "$was_relay" ]; then
	grep -q "reordered=[1-9]" "$TW_DIR/relay.log" || fail "nothing reordered: $(tail -1 "$TW_DIR/relay.log")"
fi
echo "ok: $how: $N tasks, $N results, lost 0, run once each ($executed with the warm-up);" \
	"$retx frames retransmitted, $dups duplicates suppressed, $resent results re-sent;" \
	"$(tail -1 "$TW_DIR/relay.log" 2>/dev/null)"
