#!/usr/bin/env bash
# Workflow steps the engine makes that do not fit one packet buffer, through
# the real binaries: a Python worker (bigsteps.py) serves queue "big" and
# the engine makes every step after the first. The engine runs with 2 MB of
# large buffers (64 of 8 kB, 8 of 64 kB, 2 of the largest frame), on a data
# directory of its own (durable queues), so it is this test's own engine.
#  1. chain steps of 6 kB and 60 kB: a parent's result of that size passed
#     on as the next step's first argument, and a step whose own args are
#     that large (the step then carries them twice: 120 kB);
#  2. chord callbacks carrying their group's results: 3 x 2 kB, 15 x 4 kB;
#  3. exhaustion: more big steps waiting in a queue no one serves than large
#     buffers of their class: the rest are refused (counted wf_big_refused),
#     each refused chain FAILs with a message naming the shortage; the
#     engine keeps serving (a purge gives the buffers back, a 60 kB chain
#     runs again); then the same with chord callbacks carrying their
#     groups' results;
#  4. a big step queued on a durable queue is journaled: kill -9 of the
#     engine and tw-control, restart, the step is recovered and runs.
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
id=bs${TW_IT_TAG:-}
id=${id:0:9}
dir=$TW_BUILD/run/$id
work=$TW_BUILD/run/$id-work
pids=()
cleanup() {
	local rc=$? p f
	for p in "${pids[@]}"; do tw_stop_pid "$p" || true; done
	if [ $rc -ne 0 ]; then
		for f in "$work"/*.log "$dir/dataplane.log"; do
			[ -f "$f" ] && { echo "--- $f"; tail -25 "$f"; }
		done
	fi
	tw_engine_stop "$dir" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
start() {
	TW_DATA_DIR=$work/data tw_engine_start "$id" --reasm-memory-mb 2 || fail "engine did not start"
	# shellcheck disable=SC1091
	. "$dir/engine.env"
}
# the engine run.sh started has no data directory: stopped at once, its
# hugepages are for this test's own engine
[ -z "${TW_DIR:-}" ] || tw_engine_stop "$TW_DIR" >/dev/null 2>&1 || true
rm -rf "$work"
mkdir -p "$work/data"
bash "$TW_ROOT/clients/python/build.sh" "$TW_BUILD/python" >/dev/null
export TW_PYTHON_GEN=$TW_BUILD/python PYTHONPATH=$TW_ROOT/clients/python:$here
pub() { tw_in_ns env TW_ENGINE="$TW_ENGINE" TW_SOCKET="$TW_SOCKET" $py -B "$here/bigsteps.py" "$@"; }
# worker QUEUE: a Python worker of bigsteps.py on QUEUE
worker() {
	local log=$work/worker-$1.log
	(cd "$here" && TW_ENGINE=$TW_ENGINE TW_SOCKET=$TW_SOCKET exec ip netns exec "$TW_NETNS" \
		$py -B -m taskwire worker -A bigsteps -Q "$1" -P threads -c 2) >"$log" 2>&1 &
	pids+=($!)
	tw_wait_for_line "$log" "taskwire worker: ready" "$!" 30 || fail "worker for $1: $(cat "$log")"
}
# expect WHAT WANT CMD...: CMD prints WANT
expect() {
	local what=$1 want=$2 out
	shift 2
	out=$("$@" 2>&1) || fail "$what: $out"
	[ "$out" = "$want" ] || fail "$what: got '${out:0:300}', want '$want'"
}

start
twctl queue declare big >/dev/null
twctl queue declare jobs >/dev/null
twctl queue declare parked --consumers remote >/dev/null
twctl queue declare dq --durable --consumers remote >/dev/null
worker big

# 1, 2
steps0=$(counter wf_big_steps)
expect "chain passing a 6 kB result" "[6000]" pub chain 6000
expect "chain passing a 60 kB result" "[60000]" pub chain 60000
expect "chain step with 6 kB of args" "[10, 6000]" pub chain 10 6000
expect "chain step with 60 kB of args" "[10, 60000]" pub chain 10 60000
expect "chord of 3 x 2 kB" "[[2000, 2000, 2000]]" pub chord 3 2000
expect "chord of 15 x 4 kB" "[[$(printf '4000, %.0s' {1..14})4000]]" pub chord 15 4000
big=$(($(counter wf_big_steps) - steps0))
[ "$big" -ge 6 ] || fail "steps made in large buffers: $big, want 6 at least"
[ "$(counter wf_big_refused)" = 0 ] || fail "refused with buffers free: $(counter wf_big_refused)"
echo "ok: chain steps of 6 and 60 kB (results and args), chord callbacks of 6 and 60 kB ($big big steps)"

# 3. 14 steps of about 12 kB wait in "parked": 8 buffers of their class
steps0=$(counter wf_big_steps)
out=$(pub exhaust 14 parked) || fail "exhaust: $out"
read -r _ parked _ refused <<<"$(head -1 <<<"$out")"
made=$(($(counter wf_big_steps) - steps0))
nrefused=$(counter wf_big_refused)
[ "$((parked + refused))" = 14 ] || fail "exhaustion: $out"
[ "$refused" -ge 6 ] && [ "$parked" -le 8 ] || fail "want at most 8 parked, 6 refused at least: $out"
[ "$nrefused" = "$refused" ] || fail "wf_big_refused $nrefused, $refused chains failed"
[ "$made" = "$parked" ] || fail "wf_big_steps grew by $made, $parked steps parked"
errs=$(tail -n +2 <<<"$out")
[ "$(grep -c "no large buffer free for a step of [0-9]* bytes (--reasm-memory-mb)" <<<"$errs")" = \
	"$refused" ] || fail "refusals without the reason: $errs"
twctl queue purge parked >/dev/null
echo "ok: exhaustion: $parked big steps parked, $refused refused and counted, FAILURE: $(head -1 <<<"$errs")"

# 3b. the same with chord callbacks: 14 callbacks of about 11 kB (their
# groups' results) for the 8 buffers of their class
steps0=$(counter wf_big_steps)
refused0=$(counter wf_big_refused)
out=$(pub exhaust-chord 14 parked) || fail "exhaust-chord: $out"
read -r _ parked _ refused <<<"$(head -1 <<<"$out")"
made=$(($(counter wf_big_steps) - steps0))
nrefused=$(($(counter wf_big_refused) - refused0))
[ "$((parked + refused))" = 14 ] || fail "chord exhaustion: $out"
[ "$refused" -ge 6 ] && [ "$parked" -le 8 ] || fail "chords: want at most 8 parked, 6 refused at least: $out"
[ "$nrefused" = "$refused" ] || fail "chords: wf_big_refused grew by $nrefused, $refused chords failed: ${out:0:600}"
[ "$made" = "$parked" ] || fail "chords: wf_big_steps grew by $made, $parked callbacks parked"
errs=$(tail -n +2 <<<"$out")
[ "$(grep -c "no large buffer free for a step of [0-9]* bytes (--reasm-memory-mb)" <<<"$errs")" = \
	"$refused" ] || fail "chord refusals without the reason: $errs"
twctl queue purge parked >/dev/null
expect "a 60 kB chain after the exhaustion" "[60000]" pub chain 60000
echo "ok: chord exhaustion: $parked callbacks parked, $refused refused and counted, FAILURE: $(head -1 <<<"$errs")"

# 4. a 6 kB step on a durable queue survives kill -9
step=$(pub durable 6000 dq) || fail "durable: $step"
for ((i = 0; i < 100; i++)); do
	[ "$(twctl list queues | awk '$1 == "dq" { print $3; exit }')" = 1 ] && break
	tw_nap 0.1
done
[ "$(twctl list queues | awk '$1 == "dq" { print $3; exit }')" = 1 ] ||
	fail "the step did not reach dq: $(twctl list queues)"
for p in "${pids[@]}"; do tw_stop_pid "$p" || true; done
pids=()
kill -9 "$TW_CTL_PID" "$TW_DP_PID"
tw_stop_pid "$TW_CTL_PID" || true
tw_stop_pid "$TW_DP_PID" || true
tw_engine_stop "$dir" >/dev/null 2>&1 || true
start
worker dq
out=$(twctl result "$step" --wait 20 || true)
grep -q "SUCCESS big.measure \[6000\]" <<<"$out" || fail "the durable big step after kill -9: $out"
echo "ok: a 6 kB step journaled on a durable queue, recovered and run after kill -9"
echo "bigsteps: all passed"
