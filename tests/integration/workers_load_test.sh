#!/usr/bin/env bash
# runs alone: heartbeats of 200 ms and fair shares of 600 tasks, which a second
# engine beside it skewed under load (run.sh)
# Remote consumers under load, through the real binaries (tw-worker
# processes, tw-publish-bench, twctl), each on a queue declared
# `--consumers remote`, so no task of this test can run on the engine's
# lcores:
#  1. credit-1 fairness: three tw-workers (-c 1 --prefetch 1) share 600
#     tasks of 2 ms, each within 20% of a third (Celery's prefetch
#     complaint: a busy consumer does not hoard what others could run);
#  2. kill -9 of a tw-worker under sustained load: every task published
#     has exactly one result, none lost, none twice; the killed worker's
#     deliveries in flight were redelivered (counted, at most its credit);
#  3. workflows whose steps all run in tw-worker: a chain (results passed
#     along) and a chord (the callback gets the members' results).
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
json() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
counter() { twctl status --json | json "d['counters']['$1']"; }
cleanup() {
	for p in "${it_worker_pids[@]}"; do tw_stop_pid "$p" || true; done
}
trap cleanup EXIT

bench() { ip netns exec "$TW_NETNS" "$TW_BUILD/tw-publish-bench" --engine "$TW_ENGINE" --json "$@"; }

# 1. fairness at credit 1
twctl queue declare wl_fair --consumers remote >/dev/null
for n in 1 2 3; do it_worker wl_fair "fair$n" -c 1 --prefetch 1; done
it_wait_consumers wl_fair 3
out=$(bench --queue wl_fair --task sleep_us --args '[2000]' --count 600 --window 32 --drain 20)
[ "$(json "d['results'] == d['succeeded'] == 600 and d['lost'] == 0" <<<"$out")" = True ] ||
	fail "fairness run: $out"
# the warm-up task (noop) went to one of them too: 601 acks in all
shares=$(twctl list consumers --json |
	json "' '.join(str(c['acked']) for c in sorted(d, key=lambda c: c['name']) if 'wl_fair' in c['queues'])")
echo "credit 1, 600 tasks of 2 ms over 3 tw-workers: acked $shares"
for s in $shares; do
	[ "$s" -ge 160 ] && [ "$s" -le 241 ] || fail "unfair share $s of 601 (want 200 +-20%): $shares"
done
for p in "${it_worker_pids[@]}"; do tw_stop_pid "$p" || fail "tw-worker $p did not stop"; done
it_worker_pids=()

# 2. kill -9 of a tw-worker under load
twctl queue declare wl_kill --consumers remote >/dev/null
it_worker wl_kill victim -c 2 --prefetch 4 --heartbeat-ms 200
victim=${it_worker_pids[-1]}
it_worker wl_kill survivor -c 2 --prefetch 4 --heartbeat-ms 200
it_wait_consumers wl_kill 4
redelivered=$(counter rc_redelivered)
bench --queue wl_kill --task sleep_us --args '[1000]' --count 3000 --window 64 --drain 30 \
	>"$TW_DIR/kill.json" &
bench_pid=$!
# kill it once it has done some work, while the load runs (bounded: 10 s)
for ((i = 0; i < 100; i++)); do
	acked=$(twctl list consumers --json | json "sum(c['acked'] for c in d if c['name'] == 'victim')")
	[ "$acked" -ge 200 ] && break
	tw_nap 0.1
done
kill -9 "$victim"
wait "$victim" 2>/dev/null || true
wait "$bench_pid" || fail "tw-publish-bench failed: $(cat "$TW_DIR/kill.json")"
out=$(cat "$TW_DIR/kill.json")
echo "kill -9 under load: $out"
[ "$(json "d['results'] == d['succeeded'] == 3000 and d['lost'] == 0 and d['duplicates'] == 0" \
	<<<"$out")" = True ] || fail "tasks lost or answered twice after kill -9: $out"
again=$(($(counter rc_redelivered) - redelivered))
echo "redelivered after kill -9: $again (victim had $acked acked, credit 2 x 4)"
[ "$again" -ge 1 ] && [ "$again" -le 8 ] || fail "redelivered $again, want 1..8 (its credit)"
[ "$(twctl list consumers --json | json "sum(1 for c in d if c['name'] == 'victim')")" -eq 0 ] ||
	fail "the killed worker is still listed"
for p in "${it_worker_pids[@]}"; do tw_stop_pid "$p" || true; done
it_worker_pids=()

# 3. workflows run by tw-worker
twctl queue declare wl_flow --consumers remote >/dev/null
it_worker wl_flow flow -c 2 --prefetch 2
it_wait_consumers wl_flow 2
wf() {
	echo "{\"queue\": \"wl_flow\", \"workflow\": $2}" >"$TW_DIR/$1.json"
	tw_in_ns "$TW_BUILD/twctl" --socket "$TW_SOCKET" --engine "$TW_ENGINE" publish \
		--workflow "$TW_DIR/$1.json" --wait 10 || true
}
out=$(wf chain '{"chain": [{"task": "add", "args": [1, 2]}, {"task": "add", "args": [10]},
	{"task": "add", "args": [100]}]}')
grep -q "SUCCESS 113" <<<"$out" || fail "chain add(1,2) | add(10) | add(100) in tw-worker: $out"
out=$(wf chord '{"chord": {"header": [{"task": "add", "args": [1, 1]}, {"task": "add", "args": [2, 2]},
	{"task": "add", "args": [3, 3]}], "body": {"task": "echo", "args": ["tail"]}}}')
grep -q 'SUCCESS \[\[2,4,6\],"tail"\]' <<<"$out" || fail "chord in tw-worker: $out"
acked=$(twctl list consumers --json | json "sum(c['acked'] for c in d if c['name'] == 'flow')")
# 3 chain steps + 3 members + the callback, all acked by tw-worker (the queue
# is remote consumers' only: the engine's lcores never take its tasks)
[ "$acked" -eq 7 ] || fail "tw-worker acked $acked steps, want 7"
echo "workers_load_test: all passed"
