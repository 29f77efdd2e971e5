#!/usr/bin/env bash
# runs alone: five lcores on the two CPUs and waits of half a second, which a
# second engine beside it stretched under load (run.sh)
# Remote consumers on a pipeline engine with two io lcores: workers_test
# (tw-worker, kill -9, leases, credit, acks, bad input, 1,000 consumers)
# against an engine whose port has four RX queues shared by two io lcores,
# but for the tests whose outcome does not depend on which lcore reads a
# frame (WK_SKIP: the tw-worker supervisor's time limits, the library's
# lease timer, subscription checks, queue policies, the share arithmetic),
# which the run against the one-lcore engine covers. One io lcore owns the consumer table; frames reaching the
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

skip=test_workers_time_limit,test_workers_time_limit_two_workers,test_workers_extend_leases
skip=$skip,test_workers_bad_subscriptions,test_workers_queue_delivery_limit
skip=$skip,test_workers_queue_consumers_engine_both,test_workers_credit_share
WK_SKIP=$skip TW_TWCTL=$TW_BUILD/twctl TW_SOCKET=$TW_SOCKET TW_ENGINE=$TW_ENGINE TW_DIR=$TW_DIR TW_DP_PID=$TW_DP_PID \
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
