#!/usr/bin/env bash
# Durable queues served by remote consumers, across kill -9 of the engine
# (run by run.sh; it manages an engine of its own on a data directory).
# One crash and restart covers:
#  1. a durable queue held by Python workers (Subscribe.hold) stays theirs
#     after the crash: its tasks, published while no worker was
#     subscribed, are recovered and wait (the engine's lcores, which do
#     not know Python tasks, take none and fail none) until a Python
#     worker started late runs each exactly once;
#  2. tasks of a durable queue delivered to a remote consumer that never
#     acked come back with delivery_count + 1 (redelivered), those not
#     delivered with 1;
#  3. tasks purged from a durable queue, or deleted with it, do not come
#     back: each ended in the journal before the purge (delete) answered.
set -euo pipefail
. "$(dirname "$0")/../../deploy/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
id=dr${TW_IT_TAG:-}
id=${id:0:9}
dir=$TW_BUILD/run/$id
work=$TW_BUILD/run/$id-work
data=$work/data
py=/usr/bin/python3
wpid=
. "$(dirname "$0")/durable_lib.sh"
queue_field() { # queue field
	twctl list queues --json | $py -c "import json,sys
print([q for q in json.load(sys.stdin) if q['name'] == '$1'][0].get('$2', 0))"
}
cleanup() {
	tw_stop_pid "$wpid" || true
	tw_engine_stop "$dir" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
start() {
	TW_DATA_DIR=$data tw_engine_start "$id" "$@" || return 1
	# shellcheck disable=SC1091
	. "$dir/engine.env"
}
bash "$TW_ROOT/clients/python/build.sh" "$TW_BUILD/python" >/dev/null
export TW_PYTHON_GEN=$TW_BUILD/python
pub() { tw_in_ns env TW_TASK_NAME=durable.record $py "$here/durable_pub.py" "$@"; }
# a Python worker of the durable app on queues $1, its runs recorded in
# $work/runs.txt, its log in $work/worker.log
worker() {
	# ip netns exec and env exec: $! is the worker's own PID
	ip netns exec "$TW_NETNS" env TW_ENGINE="$TW_ENGINE" TW_DURABLE_RECORD="$work/runs.txt" \
		PYTHONPATH="$TW_ROOT/clients/python:$here/data/durable_app" \
		$py -B -m taskwire worker -A durable_tasks -Q "$1" -P threads -c 4 \
		>>"$work/worker.log" 2>&1 &
	wpid=$!
	tw_wait_for_line "$work/worker.log" "taskwire worker: ready" "$wpid" 20 ||
		fail "the Python worker did not start"
}
# the engine run.sh started has no data directory: stopped at once, its
# hugepages are for this test's own engine
[ -z "${TW_DIR:-}" ] || tw_engine_stop "$TW_DIR" >/dev/null 2>&1 || true
rm -rf "$work"
mkdir -p "$work"
: >"$work/runs.txt"

start || fail "engine on a data directory"
twctl queue declare dh --durable >/dev/null && twctl queue declare dd --durable >/dev/null ||
	fail "declare dh, dd"
# 1: a Python worker holds dh and dd, then goes away; the holds reach the
# saved definitions (tw-control writes them again when a hold appears)
worker dh,dd
tw_stop_pid "$wpid"
wpid=
for ((i = 0; i < 50; i++)); do
	$py -c "import json,sys; d=json.load(open('$data/definitions.json'))
sys.exit(0 if {q['name'] for q in d['queues'] if q.get('held')} == {'dh', 'dd'} else 1)" \
		2>/dev/null && break
	tw_nap 0.1
done
[ "$i" -lt 50 ] || fail "the holds of dh, dd are not in the saved definitions: $(cat "$data/definitions.json")"
pub publish "$TW_ENGINE" dh 30 "$work/acked_dh.txt" 100000 >/dev/null
[ "$(wc -l <"$work/acked_dh.txt")" = 30 ] || fail "not all 30 tasks to dh ACKed"
[ "$(queue_field dh ready)" = 30 ] || fail "dh holds $(queue_field dh ready) tasks, not 30"
# 2: a consumer that never acks takes 5 of dd's 10 (prefetch 5); their
# deliveries are journaled (synced) before the crash
pub subscribe "$TW_ENGINE" dd 5 >/dev/null || fail "subscribe to dd"
pub publish "$TW_ENGINE" dd 10 "$work/acked_dd.txt" 200000 >/dev/null
[ "$(wc -l <"$work/acked_dd.txt")" = 10 ] || fail "not all 10 tasks to dd ACKed"
wait_counter journal_delivered 5
[ "$(counter rc_deliveries)" = 5 ] || fail "$(counter rc_deliveries) deliveries, not 5"
# 3: 10 tasks purged from dp, 3 published after; 5 deleted with dz
twctl queue declare dp --durable --consumers remote >/dev/null &&
	twctl queue declare dz --durable --consumers remote >/dev/null || fail "declare dp, dz"
pub publish "$TW_ENGINE" dp 10 "$work/purged.txt" 300000 >/dev/null
pub publish "$TW_ENGINE" dz 5 "$work/deleted.txt" 400000 >/dev/null
[ "$(cat "$work/purged.txt" "$work/deleted.txt" | wc -l)" = 15 ] || fail "not all 15 to dp, dz ACKed"
out=$(twctl queue purge dp) || fail "purge dp: $out"
echo "$out" | grep -q " 10 tasks discarded" || fail "purge dp: $out"
out=$(twctl queue delete dz) || fail "delete dz: $out"
echo "$out" | grep -q " 5 tasks discarded" || fail "delete dz: $out"
[ "$(counter journal_dropped)" = 15 ] || fail "$(counter journal_dropped) dropped tasks journaled, not 15"
pub publish "$TW_ENGINE" dp 3 "$work/acked_dp.txt" 310000 >/dev/null
[ "$(wc -l <"$work/acked_dp.txt")" = 3 ] || fail "not all 3 tasks to dp ACKed"

kill -9 "$TW_CTL_PID" "$TW_DP_PID"
tw_stop_pid "$TW_CTL_PID" || true
tw_stop_pid "$TW_DP_PID" || true
tw_engine_stop "$dir" >/dev/null 2>&1 || true
start || fail "restart on the journal"
wait_counter journal_recovered_queued 43
[ "$(counter journal_recovered)" = 43 ] || fail "recovered $(counter journal_recovered), not 43"
grep -q "default arguments) for its recovered tasks" "$dir/dataplane.log" &&
	fail "tasks of the deleted queue came back (it was made again for them)"
# what the engine's lcores would do with them is done within milliseconds
tw_nap 0.5
[ "$(queue_field dh ready)" = 30 ] && [ "$(queue_field dd ready)" = 10 ] ||
	fail "after the restart dh holds $(queue_field dh ready) tasks (not 30), dd $(queue_field dd ready) (not 10): a hold was lost"
[ "$(queue_field dp ready)" = 3 ] || fail "dp holds $(queue_field dp ready) tasks, not 3"
[ "$(counter tasks_failed)" = 0 ] || fail "$(counter tasks_failed) recovered tasks failed"
echo "ok (${SECONDS}s): the holds of dh and dd saved, back after kill -9: their 40 recovered tasks" \
	"wait (and dp's 3: x-consumers remote)"
worker dh,dd,dp
cat "$work/acked_dh.txt" "$work/acked_dd.txt" "$work/acked_dp.txt" >"$work/acked.txt"
pub check "$TW_SOCKET" "$work/acked.txt" 30 || fail "tasks lost"
{
	sed 's/$/ dh 1/' "$work/acked_dh.txt"
	# the first 5 went to the consumer that never acked
	sort -n "$work/acked_dd.txt" | head -5 | sed 's/$/ dd 2/'
	sort -n "$work/acked_dd.txt" | tail -5 | sed 's/$/ dd 1/'
	sed 's/$/ dp 1/' "$work/acked_dp.txt"
} | sort >"$work/want.txt"
sort "$work/runs.txt" >"$work/got.txt"
diff "$work/want.txt" "$work/got.txt" >"$work/diff.txt" ||
	fail "runs in Python (id queue delivery_count) differ: $(head -20 "$work/diff.txt")"
[ "$(counter tasks_failed)" = 0 ] || fail "$(counter tasks_failed) tasks failed"
echo "ok (${SECONDS}s): a Python worker started late ran each of the 43 exactly once, none failed;" \
	"the 5 delivered before the crash came back with delivery_count 2, the 5 others 1;" \
	"none of the 10 purged nor the 5 deleted came back"
tw_stop_pid "$wpid"
wpid=

# 4: `twctl queue release` ends dh's hold without deleting the queue: the
# saved definitions lose its mark before the answer, and with no remote
# consumer subscribed the engine's lcores take its tasks again (an engine
# task); a second release says it was not held, an unknown queue is refused
out=$(twctl queue release dh) || fail "release dh: $out"
echo "$out" | grep -q "queue 'dh' released" || fail "release dh: $out"
$py -c "import json,sys; d=json.load(open('$data/definitions.json'))
sys.exit(0 if {q['name'] for q in d['queues'] if q.get('held')} == {'dd', 'dp'} else 1)" ||
	fail "dh still held in the saved definitions: $(cat "$data/definitions.json")"
s0=$(counter tasks_succeeded)
out=$(tw_in_ns "$TW_BUILD/twctl" --socket "$TW_SOCKET" --engine "$TW_ENGINE" publish "" dh noop)
echo "$out" | grep -q ACK || fail "publish to dh after its release: $out"
wait_counter tasks_succeeded $((s0 + 1))
out=$(twctl queue release dh) || fail "second release of dh: $out"
echo "$out" | grep -q "queue 'dh' was not held" || fail "second release of dh: $out"
twctl queue release nosuch >/dev/null 2>&1 && fail "release of an unknown queue answered ok"
echo "ok (${SECONDS}s): twctl queue release: dh's hold ended (its saved mark too), the engine's" \
	"lcores ran a task of it; released again: not held; an unknown queue refused"
