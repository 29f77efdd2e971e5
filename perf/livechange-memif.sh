#!/usr/bin/env bash
# make perf-livechange: live routing changes under load on a memif link,
# next to the same load without changes, in one run (the TAP version in
# make test, livechange_test, also checks routing windows; on TAP the
# lcore's own syscalls dominate its pauses, so the pause figures are
# measured here, where the data plane makes none).
#
# Engine as in make perf (one polling lcore on CPU 1, kept for it), tw-loadgen
# on CPU 0 publishing noop tasks to exchange "live" key "k" (closed loop).
# Queue "always" is bound the whole time. Phase "quiet": no changes.
# Phases "reading-N": the changing phases' twctl calls, at their pace,
# replaced by list calls (the control: process churn alone).
# Phases "changing-N": "sometimes" bound and unbound in a loop, a scratch
# queue declared, bound and deleted, the exchange redeclared. Each phase:
# tasks sent, confirmed, lost, routing changes, results = deliveries, the
# lcores' longest pass and how many passes took 1 ms or more.
# Baseline, same run, before the engine starts: tw-pause-probe on CPU 1,
# the machine's own pauses of a thread that only reads the clock, with
# CPU 0 idle and with CPU 0 busy (as during the phases); an lcore on that
# CPU cannot pause less.
# Writes perf/results/livechange.md.
#   TW_PERF_SECONDS  seconds per phase (default 10)
set -uo pipefail
. "$(dirname "$0")/perf-lib.sh"

secs=${TW_PERF_SECONDS:-10}
out=$TW_ROOT/perf/results
work=$TW_BUILD/run/perf-livechange
rm -rf "$work"
mkdir -p "$out" "$work"

perf_isolate_cpu 1
trap perf_release_cpu EXIT
probe_rows=()
for busy in idle busy; do
	perf_pause_probe "$busy" "$secs" "$work/probe-$busy.json" ||
		{ echo "perf-livechange: tw-pause-probe failed"; exit 1; }
	echo "perf-livechange: probe, CPU 0 $busy: $(cat "$work/probe-$busy.json")"
	probe_rows+=("| $busy | $(($(perf_field "$work/probe-$busy.json" longest_pause_ns) / 1000)) |\
 $(($(perf_field "$work/probe-$busy.json" longest_pause_charged_ns) / 1000)) |\
 $(perf_field "$work/probe-$busy.json" pauses_over_100us) | $(perf_field "$work/probe-$busy.json" pauses_over_1ms) |\
 $(perf_field "$work/probe-$busy.json" charged_pauses_over_1ms) |")
done
perf_engine_start perflive >/dev/null || { echo "perf-livechange: engine did not start"; exit 1; }
dir=$TW_DIR
trap 'tw_engine_stop "$dir"; perf_release_cpu' EXIT
twctl() { "$TW_BUILD/twctl" --socket "$dir/control.sock" "$@"; }
counter() { twctl status --json | grep -m1 "\"$1\"" | tr -dc 0-9; }
queue() { # NAME FIELD
	twctl list queues --json | /usr/bin/python3 -c \
		'import json, sys; print(next(q[sys.argv[2]] for q in json.load(sys.stdin) if q["name"] == sys.argv[1]))' "$1" "$2"
}
twctl queue declare always >/dev/null && twctl queue declare sometimes >/dev/null &&
	twctl exchange declare live direct >/dev/null && twctl bind live always k >/dev/null ||
	{ echo "perf-livechange: set-up failed"; exit 1; }

# change loop, in the background until $work/stop exists; counts changes in $work/changes
change_loop() {
	local n=0
	while [ ! -e "$work/stop" ]; do
		twctl bind live sometimes k >/dev/null || break
		tw_nap 0.02
		twctl unbind live sometimes k >/dev/null || break
		twctl queue declare scratch >/dev/null && twctl bind live scratch other >/dev/null &&
			twctl exchange declare live direct >/dev/null && twctl queue delete scratch >/dev/null ||
			break
		n=$((n + 5)) # bind, unbind, declare, bind, delete (the redeclare changes nothing)
		echo "$n" >"$work/changes"
		tw_nap 0.02
	done
}

# The same twctl calls at the same pace, changing nothing: starting and
# ending processes on CPU 0 pauses CPU 1 on this VM by itself, so this is
# the control for what the changes add.
read_loop() {
	while [ ! -e "$work/stop" ]; do
		twctl list bindings >/dev/null || break
		tw_nap 0.02
		twctl list queues >/dev/null || break
		twctl list exchanges >/dev/null && twctl list bindings >/dev/null &&
			twctl list queues >/dev/null && twctl list exchanges >/dev/null || break
		tw_nap 0.02
	done
}

rows=()
phase() { # name, background loop: 0 none, 1 changes, 2 the same twctl calls reading only
	local name=$1 changing=$2 a0 s0 a1 s1 sent acked nacked results lost changes=0 loop=""
	a0=$(queue always published)
	s0=$(queue sometimes published)
	rm -f "$work/stop" "$work/changes"
	twctl status --reset-max-stall >/dev/null
	local p0 p1
	p0=$(counter passes_over_1ms)
	if [ "$changing" = 1 ]; then
		change_loop &
		loop=$!
	elif [ "$changing" = 2 ]; then
		read_loop &
		loop=$!
	fi
	perf_loadgen "$dir" --duration "$secs" --json "$work/$name.json" --tasks-per-frame 1 \
		--args-size 64 --window 4096 --exchange live --key k 2>"$work/$name.err" ||
		{ echo "perf-livechange: $name: tw-loadgen failed"; cat "$work/$name.err"; }
	touch "$work/stop"
	[ -n "$loop" ] && wait "$loop"
	[ -s "$work/changes" ] && changes=$(cat "$work/changes")
	local stall
	stall=$(counter max_stall_ns)
	p1=$(counter passes_over_1ms)
	a1=$(queue always published)
	s1=$(queue sometimes published)
	sent=$(perf_field "$work/$name.json" tasks_sent)
	acked=$(perf_field "$work/$name.json" acked)
	nacked=$(perf_field "$work/$name.json" nacked)
	results=$(perf_field "$work/$name.json" results)
	lost=$(perf_field "$work/$name.json" lost)
	echo "perf-livechange: $name: sent $sent, acked $acked, nacked $nacked, lost $lost," \
		"always +$((a1 - a0)), sometimes +$((s1 - s0)), results $results, changes $changes," \
		"longest pass $stall ns, passes >= 1 ms $((p1 - p0))"
	rows+=("| $name | $sent | $acked | $nacked | $lost | $changes | $((a1 - a0)) | $((s1 - s0)) | $results | $((stall / 1000)) | $((p1 - p0)) |")
	# nothing lost: every task confirmed and answered, each delivery ran once
	[ "$lost" = 0 ] && [ "$nacked" = 0 ] && [ "$acked" = "$sent" ] &&
		[ "$((a1 - a0))" = "$sent" ] && [ "$results" = "$((a1 - a0 + s1 - s0))" ] ||
		{ echo "perf-livechange: $name: counts do not add up"; fail=1; }
}

fail=0
phase quiet 0
# twice each, alternating: this VM has spells of many 1-2 ms pauses that
# last a phase or so, and they land in either kind
phase reading-1 2
phase changing-1 1
phase reading-2 2
phase changing-2 1
{
	echo "# Live routing changes under load, memif (\`make perf-livechange\`)"
	echo
	echo "tw-dataplane: one polling lcore on CPU 1 (kept for it), tw-loadgen on CPU 0, noop tasks"
	echo "to a direct exchange, closed loop, ${secs} s per phase, same engine, one run."
	echo "\"results\" counts deliveries: a task routed to both queues runs twice. \"reading\" phases"
	echo "run the same number of twctl calls at the same pace as \"changing\" ones, changing nothing:"
	echo "the control for what routing changes add to the lcore's pauses."
	echo
	echo "| phase | tasks sent | acked | nacked | lost | routing changes | to always | to sometimes | results | longest lcore pass (us) | passes >= 1 ms |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	printf '%s\n' "${rows[@]}"
	echo
	echo "The machine's own pauses on CPU 1, same run, before the engine started (\`tw-pause-probe\`:"
	echo "a thread that only reads the clock, ${secs} s each; \"charged\": the kernel counted the pause"
	echo "as the probe's running time, so it did not see it: hypervisor or hardware):"
	echo
	echo "| CPU 0 | longest pause (us) | of it charged (us) | pauses >= 100 us | pauses >= 1 ms | of them charged |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: |"
	printf '%s\n' "${probe_rows[@]}"
} >"$out/livechange.md"
cat "$out/livechange.md"
exit $fail
