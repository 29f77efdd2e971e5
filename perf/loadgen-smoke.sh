#!/usr/bin/env bash
# tw-loadgen against a real engine over a memif pair (its own engine, not
# the TAP one run.sh started): closed loop with 1 and 8 tasks per frame,
# and open loop at a fixed rate. Asserted from the JSON reports: every
# task answered (lost 0), results = tasks sent, nothing NACKed, the open
# loop sent what it offered, the lean accounting (--sample) gives the same
# totals as the full decode, and the engine's pools are full afterwards.
# `make perf-smoke`. Not part of `make test` for now: on this machine's
# kernel, the test shell was seen spinning in a wait after the memif runs
# (in about half the runs, after every check had passed), which would hang CI.
set -euo pipefail
. "$(dirname "$0")/perf-lib.sh"
fail() { echo "FAIL: $*"; exit 1; }

outer_dir=${TW_DIR:-}
perf_engine_start itlgmemif --idle-sleep-us 200 || fail "memif engine did not start"
dir=$TW_DIR
trap 'tw_engine_stop "$dir"' EXIT
"$TW_BUILD/twctl" --socket "$dir/control.sock" queue declare bench >/dev/null

for tpf in 1 8; do
	perf_loadgen "$dir" --duration 2 --window 2048 --tasks-per-frame "$tpf" --args-size 32 \
		--json "$dir/closed-$tpf.json" 2>"$dir/closed-$tpf.err" || fail "loadgen failed: $(cat "$dir/closed-$tpf.err")"
	sent=$(perf_field "$dir/closed-$tpf.json" tasks_sent)
	[ "$sent" -gt 10000 ] || fail "closed loop $tpf/frame sent only $sent"
	[ "$(perf_field "$dir/closed-$tpf.json" lost)" -eq 0 ] || fail "closed loop lost tasks: $(cat "$dir/closed-$tpf.json")"
	[ "$(perf_field "$dir/closed-$tpf.json" results)" -eq "$sent" ] || fail "results != sent"
	[ "$(perf_field "$dir/closed-$tpf.json" nacked)" -eq 0 ] || fail "NACKs in closed loop"
	echo "ok: closed loop, $tpf task(s)/frame: $sent tasks, $(perf_field "$dir/closed-$tpf.json" tasks_per_sec) tasks/s"
done

# lean accounting: replies counted, one in 16 decoded; the same totals must come out
perf_loadgen "$dir" --duration 2 --window 2048 --tasks-per-frame 8 --args-size 32 --sample 16 \
	--json "$dir/lean.json" 2>"$dir/lean.err" || fail "lean loadgen failed: $(cat "$dir/lean.err")"
sent=$(perf_field "$dir/lean.json" tasks_sent)
[ "$sent" -gt 10000 ] || fail "lean run sent only $sent"
[ "$(perf_field "$dir/lean.json" lost)" -eq 0 ] || fail "lean run lost tasks: $(cat "$dir/lean.json")"
[ "$(perf_field "$dir/lean.json" results)" -eq "$sent" ] || fail "lean run: results != sent"
[ "$(perf_field "$dir/lean.json" succeeded)" -eq "$sent" ] || fail "lean run: succeeded != sent"
[ "$(perf_field "$dir/lean.json" replies_counted)" -gt 0 ] || fail "lean run counted no reply"
[ "$(perf_field "$dir/lean.json" bad_replies)" -eq 0 ] || fail "lean run: bad replies"
echo "ok: lean accounting (--sample 16): $sent tasks, $(perf_field "$dir/lean.json" replies_counted) replies counted"

perf_loadgen "$dir" --duration 2 --rate 50000 --tasks-per-frame 1 --json "$dir/open.json" \
	2>"$dir/open.err" || fail "open loop failed"
sent=$(perf_field "$dir/open.json" tasks_sent)
[ "$sent" -ge 95000 ] && [ "$sent" -le 105000 ] || fail "open loop at 50k/s for 2 s sent $sent"
[ "$(perf_field "$dir/open.json" lost)" -eq 0 ] || fail "open loop lost tasks"
grep -q '"mode": "open"' "$dir/open.json" || fail "not open loop"
echo "ok: open loop 50k tasks/s: $sent sent, result p99 $(grep -o '"result_ns": {[^}]*' "$dir/open.json" | grep -o '"p99": [0-9]*')"

status=$("$TW_BUILD/twctl" --socket "$dir/control.sock" status --json)
free=$(echo "$status" | grep -A2 '"tasks"' | grep -o '"free": [0-9]*' | awk '{ print $2 }')
total=$(echo "$status" | grep -A2 '"tasks"' | grep -o '"total": [0-9]*' | awk '{ print $2 }')
[ "$free" -eq "$total" ] || fail "task descriptors not all back: $free of $total"
trap - EXIT
tw_engine_stop "$dir" || fail "memif engine did not stop cleanly"
TW_DIR=$outer_dir
