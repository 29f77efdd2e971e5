#!/usr/bin/env bash
# Workflows (Celery's canvas) through the real binaries: twctl publish
# --workflow FILE -> libtaskwire's builder -> tw-dataplane runs every step
# after the first itself -> tw-control's store keeps the tree. Run by
# run.sh in an engine's environment (TW_DIR, TW_SOCKET, TW_ENGINE, ...):
#  1. each primitive: chain (results passed along, .si()), group (ordered
#     list), chord (callback with the list), link, link_error;
#  2. nesting three levels deep (a chord of chains holding a chord and a
#     group of chains);
#  3. failure at each position: first, middle and last step of a chain, a
#     chord member, a chord callback, a member deep inside a nested group;
#     errbacks run, later steps are recorded as not run, the chord
#     callback never runs;
#  4. retries inside a chord: retried members counted once;
#  5. `twctl result` of a group lists its members and their states;
#  6. a chord of 100,000 members completes with exactly one callback;
#  7. bad input: a malformed workflow file, unknown keys, an empty group,
#     a chord without a body (exit 1 with a message naming the problem).
#
# TW_WF_RUNNER=tw-worker (workflows_remote_test.sh): the same workflows
# with every step run by tw-worker processes instead of the engine's
# worker lcores: "jobs" is declared `--consumers remote` and two tw-workers
# (the engine's built-in tasks, the same code) consume it; the engine
# routes, holds the groups and makes the next steps. Parts 1 to 5 as
# they are, the chord of part 6 with 2,000 members, no part 7 (twctl's
# checks, no step runs); at the end, every step was acked by a tw-worker
# and none ran on the engine.
#
# Beside the workflows (engine run only, started first, collected last:
# its 30 s hide in theirs): a task of 30 s under a lease of 5 s, run by a
# tw-worker that keeps a running task's lease, is delivered once, never
# again (no lease runs out, nothing redelivered) and has one result.
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
runner=${TW_WF_RUNNER:-engine}
json() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
cleanup() {
	for p in "${it_worker_pids[@]}"; do tw_stop_pid "$p" || true; done
}
trap cleanup EXIT
wf() { tw_in_ns "$TW_BUILD/twctl" --socket "$TW_SOCKET" --engine "$TW_ENGINE" publish --workflow "$@"; }
res() { twctl result "$@" || true; }
counter() { twctl status | awk -v n="$1" '{ for (i = 1; i < NF; i++) if ($i == n) print $(i + 1) }'; }
W=$TW_DIR/wf
mkdir -p "$W"

# Publish workflow JSON $2 (wrapped with queue "jobs") as file $1, wait for its result.
run() {
	echo "{\"queue\": \"jobs\", \"workflow\": $2}" >"$W/$1.json"
	wf "$W/$1.json" --wait "${3:-10}" || true
}
# The id printed on the "task ID STATE" line (the workflow's result id).
result_id() { awk '/^task / { print $2 }' <<<"$1"; }
root_id() { awk '/^workflow / { print $2 }' <<<"$1"; }

if [ "$runner" = tw-worker ]; then
	twctl queue declare jobs --consumers remote >/dev/null
	it_worker jobs wf1 -c 2 --prefetch 4
	it_worker jobs wf2 -c 2 --prefetch 4
	it_wait_consumers jobs 4
	executed0=$(counter tasks_executed)
else
	twctl queue declare jobs >/dev/null
	# the long task: 30 s of sleep under a 5 s lease (tw-worker's sleep_us sleeps)
	twctl queue declare wf_long --consumers remote >/dev/null
	it_worker wf_long long -c 1 --lease-ms 5000
	it_wait_consumers wf_long 1
	publish '' wf_long sleep_us '[30000000]' --wait 60 >"$W/long.out" 2>&1 &
	long_pid=$!
	long_t0=$(date +%s%3N)
fi

# 1. primitives
out=$(run chain '{"chain": [{"task": "add", "args": [1, 2]}, {"task": "add", "args": [10]},
	{"task": "add", "args": [100]}]}')
grep -q "SUCCESS 113" <<<"$out" || fail "chain add(1,2) | add(10) | add(100): $out"
out=$(run immutable '{"chain": [{"task": "add", "args": [1, 2]},
	{"task": "add", "args": [5, 5], "immutable": true}]}')
grep -q "SUCCESS 10" <<<"$out" || fail "immutable step got its parent's result: $out"
out=$(run group '{"group": [{"task": "add", "args": [1, 1]}, {"task": "echo", "args": ["x"]},
	{"task": "add", "args": [2, 2]}]}')
grep -q 'SUCCESS \[2,\["x"\],4\]' <<<"$out" || fail "group results, in order: $out"
out=$(run chord '{"chord": {"header": [{"task": "add", "args": [1, 1]}, {"task": "add", "args": [2, 2]}],
	"body": {"task": "echo", "args": ["tail"]}}}')
grep -q 'SUCCESS \[\[2,4\],"tail"\]' <<<"$out" || fail "chord callback args: $out"
out=$(run link '{"task": "add", "args": [3, 4], "link": [{"task": "add", "args": [100]},
	{"task": "echo"}]}')
grep -q "SUCCESS 7" <<<"$out" || fail "linked task: $out"
root=$(root_id "$out")
sleep 0.5
links=$(for i in 1 2; do
	res "$(printf '%016x' $((0x$root + i)))"; done)
grep -q "SUCCESS add 107 parent $root" <<<"$links" || fail "link add(100) with the result: $links"
grep -q "SUCCESS echo \[7\] parent $root" <<<"$links" || fail "link echo with the result: $links"
echo "ok: chain, immutable step, group, chord, link"

# 2. three levels: chord( chain(add, chord(add, add | tsum)),
#                          chain(add, group(add, chain(add, add))) ) | tsum
out=$(run nested '{"chord": {"header": [
	{"chain": [{"task": "add", "args": [1, 1]},
		{"chord": {"header": [{"task": "add", "args": [1]}, {"task": "add", "args": [2]}],
			"body": {"task": "tsum"}}}]},
	{"chain": [{"task": "add", "args": [2, 2]},
		{"group": [{"task": "add", "args": [10]},
			{"chain": [{"task": "add", "args": [20]}, {"task": "add", "args": [30]}]}]}]}],
	"body": {"task": "tsum"}}}')
# member 0: 2 -> [3, 4] -> 7; member 1: 4 -> [14, 54]; tsum 7 + 14 + 54
grep -q "SUCCESS 75" <<<"$out" || fail "nested three levels: $out"
echo "ok: nested three levels"

# 3. failures
out=$(run fail_first '{"chain": [{"task": "fail"}, {"task": "add", "args": [1]},
	{"task": "add", "args": [2]}], "link_error": {"task": "echo", "args": ["eb"]}}')
grep -q "FAILURE not run: step .* failed: fail: this task always fails" <<<"$out" ||
	fail "chain failing at its first step: $out"
root=$(root_id "$out")
sleep 0.3
mid=$(res "$(printf '%016x' $((0x$root + 1)))")
grep -q "FAILURE add not run: step $root failed" <<<"$mid" || fail "middle step not run: $mid"
eb=$(res "$(printf '%016x' $((0x$root + 3)))")
grep -q "SUCCESS echo \[{\"id\":\"$root\",\"error\":\"fail: this task always fails.*},\"eb\"\]" \
	<<<"$eb" || fail "errback of the chain: $eb"
out=$(run fail_middle '{"chain": [{"task": "add", "args": [1, 1]}, {"task": "fail"},
	{"task": "add", "args": [2]}]}')
grep -q "FAILURE not run: step" <<<"$out" || fail "chain failing in the middle: $out"
out=$(run fail_last '{"chain": [{"task": "add", "args": [1, 1]}, {"task": "add", "args": [1]},
	{"task": "fail"}]}')
grep -q "FAILURE fail: this task always fails (args were 3 bytes)" <<<"$out" ||
	fail "chain failing at its last step (args [2]): $out"
callbacks0=$(counter wf_callbacks)
out=$(run fail_member '{"chord": {"header": [{"task": "add", "args": [1, 1]}, {"task": "fail"},
	{"task": "add", "args": [5, 5]}], "body": {"task": "tsum"}},
	"link_error": {"task": "echo", "args": ["chord-eb"]}}')
grep -q "FAILURE tsum not run\|FAILURE not run: step" <<<"$out" || fail "chord with a failing member: $out"
root=$(root_id "$out")
sleep 0.3
grp=$(res "$root")
grep -q "FAILURE chord fail: this task always fails" <<<"$grp" || fail "chord state: $grp"
grep -q "\[1\] .* FAILURE fail" <<<"$grp" || fail "failed member listed: $grp"
eb=$(res "$(printf '%016x' $((0x$root + 5)))")
grep -q 'SUCCESS echo .*"chord-eb"\]' <<<"$eb" || fail "chord errback: $eb"
[ "$(counter wf_callbacks)" = "$callbacks0" ] || fail "the callback of a failed chord ran"
out=$(run fail_callback '{"chord": {"header": [{"task": "add", "args": [1, 1]}],
	"body": {"task": "fail"}}}')
grep -q "FAILURE fail: this task always fails" <<<"$out" || fail "failing chord callback: $out"
out=$(run fail_deep '{"chord": {"header": [{"task": "add", "args": [1, 1]},
	{"group": [{"task": "add", "args": [1, 1]}, {"chain": [{"task": "add", "args": [1, 1]},
		{"task": "fail"}]}]}], "body": {"task": "tsum"}}}')
grep -q "FAILURE.*fail: this task always fails" <<<"$out" || fail "deep member failing: $out"
echo "ok: failures at the first, middle and last step, in a chord, its callback, deep inside"

# 4. retries inside a chord: flaky [2] retries twice, flaky [1] once
repeats0=$(counter wf_member_repeats)
out=$(run retries '{"chord": {"header": [{"task": "flaky", "args": [2]}, {"task": "flaky", "args": [1]},
	{"task": "add", "args": [5, 5]}], "body": {"task": "tsum"}}}')
grep -q "SUCCESS 13" <<<"$out" || fail "chord with retried members (2 + 1 + 10): $out"
[ "$(counter wf_member_repeats)" = "$repeats0" ] || fail "a retried member was counted twice"
echo "ok: retries inside a chord"

# 5. a group's members in the store
out=$(run listing '{"group": [{"task": "add", "args": [1, 1]}, {"task": "add", "args": [2, 2]}]}')
root=$(root_id "$out")
grp=$(res "$root")
grep -q "SUCCESS group \[2,4\]" <<<"$grp" || fail "group result: $grp"
grep -q "2 members" <<<"$grp" || fail "group size: $grp"
grep -q "\[0\] .* SUCCESS add 2" <<<"$grp" && grep -q "\[1\] .* SUCCESS add 4" <<<"$grp" ||
	fail "members: $grp"
twctl --json result "$root" | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["name"] == "group" and r["group_size"] == 2, r
assert [m["result"] for m in r["members"]] == ["2", "4"], r
assert all(m["state"] == "SUCCESS" for m in r["members"]), r
' || fail "group JSON: $(twctl --json result "$root")"
echo "ok: twctl result lists a group's members"

# 6. a chord of 100,000 members (2,000 through tw-worker): one callback, the sum of every member
big=100000
[ "$runner" = tw-worker ] && big=2000
/usr/bin/python3 -c '
import json, sys
n = int(sys.argv[1])
members = [{"task": "add", "args": [i, 1]} for i in range(n)]
print(json.dumps({"queue": "jobs", "workflow": {"chord": {"header": members,
	"result_cell": 16, "body": {"task": "tsum"}}}}))' "$big" >"$W/big.json"
callbacks0=$(counter wf_callbacks)
lost0=$(counter records_lost)
t0=$(date +%s%3N)
out=$(wf "$W/big.json" --wait 120 || true)
t1=$(date +%s%3N)
want=$((big * (big - 1) / 2 + big))
grep -q "SUCCESS $want" <<<"$out" || fail "chord of $big: $out"
[ "$(counter wf_callbacks)" = "$((callbacks0 + 1))" ] ||
	fail "callbacks: $callbacks0 before, $(counter wf_callbacks) after (want one more)"
root=$(root_id "$out")
# the store writes the member records after the callback ran: give it time.
# A slow tw-control (a sanitized build) may fall behind: what the records
# rings could not hold is counted lost, never silently gone.
for ((i = 0; i < 200; i++)); do
	members=$(res "$root" | awk '/ members$/ { print $1 }')
	[ "${members:-0}" -eq "$big" ] && break
	sleep 0.1
done
lost=$(($(counter records_lost) - lost0))
[ $((${members:-0} + lost)) -ge "$big" ] ||
	fail "$big members: ${members:-0} in the store, $lost records counted lost"
echo "ok: the chord's members in the store: ${members:-0} (records counted lost: $lost)"
echo "ok: chord of $big members, one callback, $((t1 - t0)) ms"

if [ "$runner" = tw-worker ]; then
	# every step ran in a tw-worker: the engine counts each run it saw end
	# (an ack's included) and the tw-workers acked as many, so none ran on
	# its lcores; parts 1 to 6 are 2,000 chord members and some 60 others
	acked=$(twctl list consumers --json | json "sum(c['acked'] for c in d if c['name'].startswith('wf'))")
	executed=$(($(counter tasks_executed) - executed0))
	[ "$executed" -eq "$acked" ] ||
		fail "the engine counted $executed runs, tw-workers acked $acked: the rest ran on its lcores"
	[ "$acked" -ge $((big + 50)) ] || fail "tw-workers acked $acked steps, want over $((big + 50))"
	[ "$(counter rc_redelivered)" = 0 ] || fail "$(counter rc_redelivered) steps redelivered"
	echo "ok: $acked steps acked by tw-worker, none run by the engine"
	echo "workflows (tw-worker): all passed"
	exit 0
fi

# 7. bad input: exit 1 and a message naming the problem
bad() {
	local name=$1 json=$2 want=$3 rc=0
	printf '%s' "$json" >"$W/$name.json"
	wf "$W/$name.json" 2>"$W/$name.err" >/dev/null || rc=$?
	[ $rc -eq 1 ] || fail "$name: exit $rc, want 1"
	grep -q "$want" "$W/$name.err" || fail "$name: $(cat "$W/$name.err")"
}
bad broken '{"chain": [' "line 1"
bad unknown '{"chain": [{"task": "add", "argz": [1]}]}' "unknown key 'argz'"
bad empty '{"group": []}' "'group' must be a non-empty array"
bad nobody '{"chord": {"header": [{"task": "add", "args": [1, 1]}]}}' "a chord needs a body"
bad notask '{"task": ""}' "'task' must be a non-empty string"
bad noshape '{"queue": "jobs", "workflow": {"tasks": []}}' "needs one of task, chain, group or chord"
echo "ok: bad workflow files refused with a message"

[ "$(counter wf_groups_opened)" -ge 10 ] || fail "groups opened: $(counter wf_groups_opened)"

# the long task, started first: 30 s under a 5 s lease, run once
wait "$long_pid" || fail "the 30 s task under a 5 s lease: $(cat "$W/long.out")"
long_ms=$(($(date +%s%3N) - long_t0))
grep -q "SUCCESS" "$W/long.out" || fail "the 30 s task: $(cat "$W/long.out")"
[ "$long_ms" -ge 30000 ] || fail "the 30 s task ended after $long_ms ms"
c=$(twctl list consumers --json | json "[(x['delivered'], x['acked'], x['redelivered']) for x in d if x['name'] == 'long']")
[ "$c" = "[(1, 1, 0)]" ] || fail "the long task's consumer (delivered, acked, redelivered): $c"
for n in rc_lease_expired rc_redelivered; do
	[ "$(counter $n)" = 0 ] || fail "$n: $(counter $n) (the long task's lease ran out)"
done
# about every 5/3 s for 30 s
[ "$(counter rc_lease_extended)" -ge 12 ] || fail "leases extended: $(counter rc_lease_extended)"
echo "ok: a 30 s task under a 5 s lease ran once in $long_ms ms ($(counter rc_lease_extended) lease refreshes, none ran out)"
echo "workflows: all passed"
