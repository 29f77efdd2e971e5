#!/usr/bin/env bash
# make perf-scale: tasks/s against worker lcores in the pipeline plan (one
# io lcore, W workers), each lcore on a CPU of its own, tw-loadgen on CPU 0,
# memif, pure polling. Writes perf/results/scale.md.
#   TW_PERF_SECONDS  seconds per point (default 5)
#   TW_SCALE_SHARED=1  run the points even when lcores must share CPUs (a
#                      check that the script and the plan work; its figures
#                      measure the kernel's scheduler, not the engine)
#
# A point needs W + 2 CPUs for the engine's polling lcores and the
# generator (the main lcore sleeps and shares CPU 0). On a machine with
# fewer, the figures would say how the kernel time-slices spinning
# threads, so the script says so and measures nothing.
set -uo pipefail
. "$(dirname "$0")/perf-lib.sh"

secs=${TW_PERF_SECONDS:-5}
out=$TW_ROOT/perf/results
mkdir -p "$out"
cpus=$(nproc)
max_workers=$((cpus - 2))
shared=${TW_SCALE_SHARED:-0}
if [ "$max_workers" -lt 1 ] && [ "$shared" != 1 ]; then
	msg="perf-scale: this machine has $cpus CPUs; one point needs the generator, one io lcore and at least one worker lcore on CPUs of their own (3 or more). Nothing measured: on shared CPUs the figures would measure the kernel's scheduler, not the engine. (TW_SCALE_SHARED=1 runs the points anyway, as a check of the script.)"
	echo "$msg"
	printf '# taskwire: tasks/s against worker lcores\n\n%s\n' "$msg" >"$out/scale.md"
	exit 0
fi
[ "$max_workers" -ge 1 ] || max_workers=2

rows=()
for ((w = 1; w <= max_workers; w++)); do
	# lcore 0 main on CPU 0 (with the generator), lcore 1 io, lcores 2.. workers
	lc="0@0,1@$((1 % cpus))"
	for ((k = 0; k < w; k++)); do
		lc+=",$((k + 2))@$(((k + 2) % cpus))"
	done
	id=perfscale$w
	dir=$TW_BUILD/run/$id
	rm -rf "$dir"
	mkdir -p "$dir"
	"$TW_BUILD/tw-dataplane" --vdev="net_memif0,role=server,socket=$dir/memif.sock" --no-pci \
		--file-prefix "tw-$id" --lcores "$lc" --log-level=lib.eal:error -- \
		--ip "$TW_PERF_ENGINE_IP" --idle-sleep-us 0 --cookies 0 --plan pipeline >"$dir/dataplane.log" 2>&1 &
	dp=$!
	printf 'TW_DP_PID=%s\nTW_PREFIX=%s\n' "$dp" "tw-$id" >"$dir/engine.env"
	tw_wait_ready "$dir" dataplane "$dp" || { echo "perf-scale: engine ($w workers) did not start"; exit 1; }
	tw_control_spawn "$dir" "tw-$id" "$dir/control.log"
	echo "TW_CTL_PID=$!" >>"$dir/engine.env"
	tw_wait_ready "$dir" control "$(sed -n 's/^TW_CTL_PID=//p' "$dir/engine.env")" ||
		{ echo "perf-scale: tw-control did not start"; exit 1; }
	"$TW_BUILD/twctl" --socket "$dir/control.sock" queue declare bench >/dev/null
	# one RX queue per engine polling lcore: on memif each engine TX queue is a ring of its own
	perf_loadgen "$dir" --duration "$secs" --rx-queues $((w + 1)) --tasks-per-frame 8 --args-size 64 --window 8192 \
		--json "$dir/lg.json" 2>"$dir/lg.err" || { echo "perf-scale: tw-loadgen failed"; cat "$dir/lg.err"; }
	busy=$("$TW_BUILD/twctl" --socket "$dir/control.sock" status --json | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
print(" ".join("%s:%.0f%%" % (l["role"], 100.0 * l["counters"]["busy_cycles"] / max(1, l["counters"]["loop_cycles"]))
               for l in s["lcores"] if l["role"] != "main"))')
	tw_engine_stop "$dir"
	tps=$(perf_field "$dir/lg.json" results_per_sec)
	lost=$(perf_field "$dir/lg.json" lost)
	rows+=("| $w | ${tps:-0} | ${lost:-?} | $busy |")
	echo "perf-scale: $w worker lcore(s): ${tps:-0} tasks/s, lost ${lost:-?}, busy $busy"
done
{
	echo "# taskwire: tasks/s against worker lcores"
	echo
	echo "Pipeline plan: one io lcore, W worker lcores, lcores on CPUs 1.. (modulo $cpus CPUs),"
	echo "tw-loadgen on CPU 0, memif, noop, 8 tasks per frame, ${secs} s a point. Command: \`make perf-scale\`."
	[ "$cpus" -lt 3 ] && echo "**This machine has $cpus CPUs: the lcores shared CPUs (TW_SCALE_SHARED=1); these figures measure the kernel's time-slicing, not the engine.**"
	echo
	echo "| worker lcores | tasks/s (result back) | lost | busy share per lcore |"
	echo "| ---: | ---: | ---: | --- |"
	printf '%s\n' "${rows[@]}"
} >"$out/scale.md"
cat "$out/scale.md"
