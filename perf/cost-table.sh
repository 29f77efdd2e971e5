#!/usr/bin/env bash
# make perf-cost: where a task's cycles go on the engine's polling lcore.
#
# Method. `perf record` samples the lcore's thread (cycles, by thread id)
# while tw-loadgen drives noop tasks through the default exchange at 1 and
# at 32 tasks per frame, and once while nothing is sent. Each sample's
# function is put in a stage (the table below). The engine's own TSC
# accounting, read before and after each run, gives the lcore's cycles,
# the share of them spent in passes that did work, and the tasks run.
# An idle pass costs the same whether or not load comes next, so the idle
# profile, weighted by the loaded run's idle share, is taken out of the
# loaded profile; what is left, times the loop's cycles and divided by the
# tasks run, is a stage's cycles per task. Their sum is set beside the
# busy cycles per task of the engine's own accounting as a check.
# What the compiler inlined into the loop body (the RX and TX burst
# calls' wrappers, the per-lcore counters, the clock reads) counts as
# "loop".
#
# Writes perf/results/cost-table.md.
#   TW_PERF_SECONDS  seconds per run (default 5)
#   TW_PERF_SHARED=1 do not move other threads off CPU 1 (a machine shared
#                    with other work: threads forked meanwhile would stay
#                    on CPU 0); the shares stay meaningful, the rates less
set -uo pipefail
. "$(dirname "$0")/perf-lib.sh"

secs=${TW_PERF_SECONDS:-5}
out=$TW_ROOT/perf/results
work=$TW_BUILD/run/perf-cost
rm -rf "$work"
mkdir -p "$work" "$out"
command -v perf >/dev/null || { echo "perf-cost: the perf tool is missing (linux-perf)"; exit 1; }

[ "${TW_PERF_SHARED:-0}" = 1 ] || perf_isolate_cpu 1
trap perf_release_cpu EXIT
perf_engine_start perfcost >/dev/null || { echo "perf-cost: engine did not start"; exit 1; }
dir=$TW_DIR
trap 'tw_engine_stop "$dir"; perf_release_cpu' EXIT
. "$dir/engine.env"
"$TW_BUILD/twctl" --socket "$dir/control.sock" queue declare bench >/dev/null || exit 1
# DPDK names its worker threads rte-worker-N: the polling lcore is worker 1
lcore_tid=$(ps -L -o tid=,comm= -p "$TW_DP_PID" | awk '$2 == "rte-worker-1" { print $1 }')
[ -n "$lcore_tid" ] || { echo "perf-cost: no polling lcore thread in pid $TW_DP_PID"; exit 1; }

# busy cycles, loop cycles, tasks run (all lcores: there is one), from twctl status --json
engine_cycles() {
	"$TW_BUILD/twctl" --socket "$dir/control.sock" status --json |
		awk '/^  "counters"/ { c = 1 } c && /"busy_cycles"/ { gsub(/[^0-9]/, "", $2); b = $2 }
		     c && /"loop_cycles"/ { gsub(/[^0-9]/, "", $2); l = $2 }
		     c && /"tasks_executed"/ { gsub(/[^0-9]/, "", $2); t = $2 } END { print b, l, t }'
}

# Stage of a sample: "dso symbol" (and the source line within the loop body).
# Every function the lcore runs on this path, by the file it lives in.
stage_awk='
function stage(dso, sym, line) {
	if (dso ~ /kernel/) return "kernel (interrupts, VM exits)"
	if (dso ~ /librte_net_memif/) return "rx + tx in the memif driver"
	if (dso ~ /librte_mbuf|librte_mempool/ || sym ~ /^rte_pktmbuf|^rte_mempool/) return "mbuf free (rx frames, sent replies)"
	if (sym ~ /^tw_parse/) return "parse (Ethernet, IP, UDP)"
	if (sym ~ /^decode_|^tw_wire_decode|^tw_frame_|^next_len_field/) return "decode (frame, tasks)"
	if (sym ~ /^tw_routes_|^tw_topic|^tw_route_cache/) return "route"
	if (sym ~ /^tw_enqueue|^rte_ring|^enqueue/) return "enqueue"
	if (sym ~ /^dispatch_|^tw_dispatch|^settle|^admit|^tw_dedup|^tw_replay|^tw_wire_put_confirm|^tw_reply_confirm/) return "admit and confirm"
	if (sym ~ /^tw_exec|^handle|^finish|^report|^tw_tasks_|^tw_ratelimit|^task_|^tw_builtin/) return "dequeue and exec (noop)"
	if (sym ~ /^tw_wire_put_result|^tw_reply_|^reserve|^tw_records/) return "result encode and reply"
	if (sym ~ /^tw_tx/) return "tx (queueing replies)"
	if (sym ~ /^__mem|^__str|^memcpy|^memcmp/) return "libc (memcpy, memcmp)"
	if (sym ~ /^loop_body|^io_pass|^exec_pass|^rx_pass|^account_pass|^tw_consumers_serve|^rte_rcu|^tw_clock/) return "loop (poll, clock, RCU, accounting)"
	return "other"
}'

# profile NAME: perf record of the lcore while the caller's load runs; prints
# "stage share" lines (shares of all samples, 0..1) to $work/NAME.stages
profile_start() {
	perf record -q -e cycles -F 4999 -t "$lcore_tid" -o "$work/$1.data" -- sleep "$((secs + 1))" \
		>/dev/null 2>&1 &
	perf_pid=$!
}
profile_stages() {
	perf report -i "$work/$1.data" --no-children --sort dso,sym --stdio --field-separator=';' 2>/dev/null |
		grep -v '^#' | awk -F';' "$stage_awk"'
		NF >= 3 { p = $1; gsub(/[% ]/, "", p); sym = $3; sub(/^ *\[[.k]\] */, "", sym)
		          s[stage($2, sym)] += p / 100 }
		END { for (k in s) printf "%s\t%.6f\n", k, s[k] }' >"$work/$1.stages"
}

idle_before=$(engine_cycles)
profile_start idle
sleep "$secs"
wait "$perf_pid"
idle_after=$(engine_cycles)
profile_stages idle

rows=()
run() { # name, loadgen args...
	local name=$1 before after; shift
	before=$(engine_cycles)
	profile_start "$name"
	perf_loadgen "$dir" --duration "$secs" --json "$work/$name.json" "$@" 2>"$work/$name.err" ||
		{ echo "perf-cost: $name failed"; cat "$work/$name.err"; return 1; }
	wait "$perf_pid"
	after=$(engine_cycles)
	profile_stages "$name"
	rows+=("$name $before $after")
}
run noop-1perframe --tasks-per-frame 1 --args-size 64 --window 4096
run noop-32perframe --tasks-per-frame 32 --args-size 16 --window 16384

# cycles per task by stage: (loaded share - idle share x idle profile share) x loop cycles / tasks
table() { # name before(3) after(3)
	local name=$1 b1=$2 l1=$3 t1=$4 b2=$5 l2=$6 t2=$7
	awk -F'\t' -v busy=$((b2 - b1)) -v loop=$((l2 - l1)) -v tasks=$((t2 - t1)) '
		FNR == NR { idle[$1] = $2; next }
		{ load[$1] = $2 }
		END {
			idlefrac = loop > 0 ? 1 - busy / loop : 0
			for (k in load) { c = (load[k] - idlefrac * idle[k]) * loop / tasks; if (c < 0) c = 0; cost[k] = c; sum += c }
			for (k in idle) if (!(k in load)) cost[k] = 0
			for (k in cost) printf "%s\t%.1f\n", k, cost[k]
			printf "TOTAL\t%.1f\t%.1f\t%.1f\t%d\n", sum, busy / tasks, 100 * busy / loop, tasks
		}' "$work/idle.stages" "$work/$name.stages"
}

{
	echo "# Where a task's cycles go (engine lcore, noop through the default exchange)"
	echo
	echo "Command: \`make perf-cost\` (perf/cost-table.sh). Engine: tw-dataplane, one polling lcore"
	echo "(run to completion, pure polling) on CPU 1; tw-loadgen on CPU 0; memif link; ${secs} s per run."
	echo "\`perf record -t <lcore thread>\` (cycles, 4,999 Hz) per run; each function put in a stage;"
	echo "the idle profile (same engine, no load) weighted by the run's idle share taken out;"
	echo "cycles per task = the stage's remaining share x the lcore's loop cycles / tasks run."
	echo "\"busy cycles/task\" is the engine's own TSC accounting (passes that did work ÷ tasks):"
	echo "the stage sum should come near it."
	echo
	declare -A col
	for r in "${rows[@]}"; do
		set -- $r
		col[$1]=$(table "$1" "$2" "$3" "$4" "$5" "$6" "$7")
	done
	printf '| stage |'
	for r in "${rows[@]}"; do printf ' %s (cycles/task) |' "${r%% *}"; done
	echo
	printf '| --- |'
	for r in "${rows[@]}"; do printf ' ---: |'; done
	echo
	stages=$(for r in "${rows[@]}"; do echo "${col[${r%% *}]}"; done | grep -v '^TOTAL' | cut -f1 | sort -u)
	while IFS= read -r s; do
		[ -n "$s" ] || continue
		printf '| %s |' "$s"
		for r in "${rows[@]}"; do
			v=$(echo "${col[${r%% *}]}" | awk -F'\t' -v s="$s" '$1 == s { print $2 }')
			printf ' %s |' "${v:-0}"
		done
		echo
	done <<<"$stages"
	for what in "stage sum:2" "busy cycles/task (engine's accounting):3" "lcore busy (%):4" "tasks run:5"; do
		printf '| **%s** |' "${what%:*}"
		for r in "${rows[@]}"; do
			printf ' %s |' "$(echo "${col[${r%% *}]}" | awk -F'\t' -v f="${what##*:}" '$1 == "TOTAL" { print $f }')"
		done
		echo
	done
	echo
	for r in "${rows[@]}"; do
		n=${r%% *}
		echo "$n: $(printf '%.0f' "$(perf_field "$work/$n.json" results_per_sec)") tasks/s (results back), lost $(perf_field "$work/$n.json" lost)."
	done
} >"$out/cost-table.md"
cat "$out/cost-table.md"
