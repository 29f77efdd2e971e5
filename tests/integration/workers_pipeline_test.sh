#!/usr/bin/env bash
# runs alone: five lcores on the two CPUs and waits of half a second, which a
# second engine beside it stretched under load (run.sh)
# Remote consumers on a pipeline engine with two io lcores: the whole of
# workers_test (tw-worker, kill -9, leases, credit, bad input, 1,000
# consumers) against an engine whose port has four RX queues shared by two
# io lcores. One io lcore owns the consumer table; frames reaching the
# other are handed to it (a TAP port steers a flow to the queue it last
# sent on, so one consumer's frames arrive on both). Every descriptor and
# mbuf must be back in the pools afterwards, in the sanitized build too
# (there a slower engine once showed two leaks: a retransmit run twice on
# the io lcore that had not seen it, and a raw consumer's lost cancel).
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
it_engine_two_io "it${TW_IT_TAG:-}wkpipe"

# free mbufs and task descriptors: "MBUFS TASKS"
pools() {
	"$TW_BUILD/twctl" --socket "$TW_SOCKET" status --json |
		/usr/bin/python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["mbufs"]["free"], s["tasks"]["free"])'
}
baseline=$(pools)

TW_TWCTL=$TW_BUILD/twctl TW_SOCKET=$TW_SOCKET TW_ENGINE=$TW_ENGINE TW_DIR=$TW_DIR TW_DP_PID=$TW_DP_PID \
	ip netns exec "$TW_NETNS" "$TW_BUILD/tests/integration/workers_test" ||
	fail "workers_test against 2 io lcores"
# every descriptor and mbuf back in the pools (bounded: 5 s)
for ((i = 0; i < 50; i++)); do
	now=$(pools)
	[ "$now" = "$baseline" ] && break
	tw_nap 0.1
done
[ "$now" = "$baseline" ] || fail "pools not back: free mbufs, descriptors $now (were $baseline)"
fwd=$("$TW_BUILD/twctl" --socket "$TW_SOCKET" status --json |
	/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["drops"]["rc_forward_full"])')
[ "$fwd" -eq 0 ] || fail "$fwd consumer frames lost between io lcores"
tw_engine_stop "$dir" || fail "pipeline engine did not stop cleanly"
trap - EXIT
echo "workers_pipeline_test: all passed"
