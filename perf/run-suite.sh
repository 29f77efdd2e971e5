#!/usr/bin/env bash
# make perf: the link's own limit and taskwire's figures, in one run, on
# the same kind of memif pair (engine or testpmd on CPU 1, generator on
# CPU 0). Writes perf/results/suite.md and perf/results/suite.json.
#   TW_PERF_SECONDS  seconds per scenario (default 5)
set -uo pipefail
. "$(dirname "$0")/perf-lib.sh"

secs=${TW_PERF_SECONDS:-5}
out=$TW_ROOT/perf/results
mkdir -p "$out"
work=$TW_BUILD/run/perf-suite
rm -rf "$work"
mkdir -p "$work"

# 1. baseline: dpdk-testpmd txonly -> rxonly, 128-byte frames, same memif link.
# testpmd_link MODE [testpmd options...]: the receiver on CPU 1 in forward
# mode MODE, a txonly sender on CPU 0; the receiver's log is left in
# $work/testpmd-MODE.log. The receiver starts first and stops first: memif
# resets a port's counters when its peer goes, and testpmd prints its
# totals (and its cycles per packet) when it stops.
testpmd_link() {
	local mode=$1 sock=$work/tp.sock rx=$work/testpmd-$1.log i; shift
	rm -f "$sock" "$rx"
	timeout -s INT $((secs + 4)) dpdk-testpmd --lcores "0@1,1@1" --no-pci --file-prefix tw-perf-tp1 \
		--vdev="net_memif0,role=server,socket=$sock" --no-huge -m 512 --log-level=lib.eal:error -- \
		--forward-mode="$mode" --auto-start --stats-period 1 --nb-cores=1 --total-num-mbufs=16384 "$@" \
		>"$rx" 2>&1 &
	local rxpid=$!
	# the sender connects once the receiver's port is up (a fixed sleep lost that race under load)
	for ((i = 0; i < 100; i++)); do
		grep -q "packet forwarding - ports" "$rx" && break
		tw_nap 0.1
	done
	timeout -s INT $((secs + 7)) dpdk-testpmd --lcores "0@0,1@0" --no-pci --file-prefix tw-perf-tp2 \
		--vdev="net_memif0,role=client,socket=$sock" --no-huge -m 512 --log-level=lib.eal:error -- \
		--forward-mode=txonly --txpkts=128 --auto-start --stats-period 1 --nb-cores=1 \
		--total-num-mbufs=16384 >"$work/testpmd-tx.log" 2>&1
	wait "$rxpid" 2>/dev/null
	rm -rf /var/run/dpdk/tw-perf-tp1 /var/run/dpdk/tw-perf-tp2
}
# The link's packet rate: the median of the receiver's per-second rates while traffic flowed.
baseline() {
	testpmd_link rxonly
	grep -E "Rx-pps" "$work/testpmd-rxonly.log" | awk '$2 > 0 { print $2 }' | sort -n |
		awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : 0) }'
}
# What forwarding a packet costs testpmd on this link, in its own cycle
# accounting (--record-core-cycles: the cycles of the bursts that received
# packets, per packet received): MODE io passes packets on untouched,
# macswap also writes each packet's header, as the engine writes each reply.
# The sender does not receive, so once memif's ring back to it is full the
# forwarder's transmits end in a bulk free; that costs about what a
# transmit does. Prints "cycles_per_packet packets".
testpmd_cycles() {
	testpmd_link "$1" --record-core-cycles
	sed -n 's|.*CPU cycles/packet=\([0-9.]*\) (total cycles=[0-9]* / total [a-z]* packets=\([0-9]*\)).*|\1 \2|p' \
		"$work/testpmd-$1.log" | tail -1
}

# CPU 1 is the measured side's (testpmd's receiver, then the engine's lcore) for the whole run
perf_isolate_cpu 1
trap perf_release_cpu EXIT
echo "perf: baseline (dpdk-testpmd over memif, 128-byte frames, ${secs}s)"
link_first=$(baseline)
echo "perf: link limit ${link_first} packets/s (measured again at the end)"
tp_io=$(testpmd_cycles io)
tp_macswap=$(testpmd_cycles macswap)
tp_io_cpp=${tp_io%% *}
tp_mac_cpp=${tp_macswap%% *}
echo "perf: testpmd forwarding on this link: io ${tp_io_cpp:-?} cycles/packet, macswap ${tp_mac_cpp:-?} cycles/packet"
[ -n "$tp_io_cpp" ] && [ -n "$tp_mac_cpp" ] || { echo "perf: testpmd printed no cycles per packet"; exit 1; }
perf_pause_probe busy "$secs" "$work/pause-probe.json" || { echo "perf: tw-pause-probe failed"; exit 1; }
echo "perf: machine's pauses on CPU 1 with CPU 0 busy: $(cat "$work/pause-probe.json")"

perf_engine_start perfeng >/dev/null || { echo "perf: engine did not start"; exit 1; }
dir=$TW_DIR
trap 'tw_engine_stop "$dir"; perf_release_cpu' EXIT
twctl() { "$TW_BUILD/twctl" --socket "$dir/control.sock" "$@" >/dev/null; }
twctl queue declare bench
twctl exchange declare dx direct && twctl bind dx bench k
twctl exchange declare tp topic && twctl bind tp bench "bench.*" && twctl bind tp bench "other.#"
twctl exchange declare fo fanout && twctl bind fo bench

# The engine's busy cycles, loop cycles and tasks run (all lcores), from twctl status --json.
engine_cycles() {
	"$TW_BUILD/twctl" --socket "$dir/control.sock" status --json |
		awk '/^  "counters"/ { c = 1 } c && /"busy_cycles"/ { gsub(/[^0-9]/, "", $2); b = $2 }
		     c && /"loop_cycles"/ { gsub(/[^0-9]/, "", $2); l = $2 }
		     c && /"tasks_executed"/ { gsub(/[^0-9]/, "", $2); t = $2 } END { print b, l, t }'
}

rows=()
run() { # name, loadgen args...
	local name=$1; shift
	local before after busy cpt
	before=$(engine_cycles)
	perf_loadgen "$dir" --duration "$secs" --json "$work/$name.json" "$@" 2>"$work/$name.err" ||
		{ echo "perf: $name failed"; cat "$work/$name.err"; return 1; }
	after=$(engine_cycles)
	# share of the engine lcore's time spent in passes that did work, and
	# those cycles per task run (every scenario's exchange reaches one queue)
	busy=$(echo "$before $after" | awk '{ d = $5 - $2; printf "%.1f", (d > 0 ? 100 * ($4 - $1) / d : 0) }')
	cpt=$(echo "$before $after" | awk '{ t = $6 - $3; printf "%.0f", (t > 0 ? ($4 - $1) / t : 0) }')
	local tps p50 p99 lost
	tps=$(perf_field "$work/$name.json" results_per_sec)
	lost=$(perf_field "$work/$name.json" lost)
	p50=$(grep -o '"result_ns": {[^}]*' "$work/$name.json" | grep -o '"p50": [0-9]*' | awk '{ print $2 }')
	p99=$(grep -o '"result_ns": {[^}]*' "$work/$name.json" | grep -o '"p99": [0-9]*' | awk '{ print $2 }')
	# formatted at the end, against the baseline measured before and after
	rows+=("$name $tps $((p50 / 1000)) $((p99 / 1000)) $lost $busy $cpt")
	echo "perf: $name: $(printf '%.0f' "$tps") tasks/s, result p50 $((p50 / 1000)) us, p99 $((p99 / 1000)) us, lost $lost, engine busy ${busy}%, $cpt engine cycles/task"
}

run noop-64B-1perframe --tasks-per-frame 1 --args-size 64 --window 4096
run noop-64B-8perframe --tasks-per-frame 8 --args-size 64 --window 8192
run noop-16B-32perframe --tasks-per-frame 32 --args-size 16 --window 16384
# the generator's lean mode (one reply in 64 decoded, the rest counted): its cost
# per task well under the engine's, so the engine can be the limit
run noop-64B-1perframe-lean --tasks-per-frame 1 --args-size 64 --window 4096 --sample 64
run noop-16B-32perframe-lean --tasks-per-frame 32 --args-size 16 --window 16384 --sample 64
run noop-1KiB-1perframe --tasks-per-frame 1 --args-size 1024 --window 4096
run direct-64B-1perframe --tasks-per-frame 1 --args-size 64 --window 4096 --exchange dx --key k
run topic-64B-1perframe --tasks-per-frame 1 --args-size 64 --window 4096 --exchange tp --key bench.x
run fanout-64B-1perframe --tasks-per-frame 1 --args-size 64 --window 4096 --exchange fo --key any
max=$(perf_field "$work/noop-64B-1perframe.json" results_per_sec)
half=$(awk -v m="$max" 'BEGIN { printf "%.0f", m / 2 }')
run "noop-64B-1perframe-open-at-half-max" --tasks-per-frame 1 --args-size 64 --rate "$half"

# Latency against offered load: open loop at fractions of the closed-loop maximum.
sweep_secs=$(( secs > 3 ? 3 : secs ))
printf '# offered_tasks_per_sec fraction_of_max result_p50_us result_p99_us result_p999_us lost\n' >"$out/latency.dat"
for pct in 10 25 50 75 90 100; do
	rate=$(awk -v m="$max" -v p="$pct" 'BEGIN { printf "%.0f", m * p / 100 }')
	perf_loadgen "$dir" --duration "$sweep_secs" --rate "$rate" --tasks-per-frame 1 --args-size 64 \
		--json "$work/sweep-$pct.json" 2>/dev/null || continue
	res=$(grep -o '"result_ns": {[^}]*' "$work/sweep-$pct.json")
	p50=$(echo "$res" | grep -o '"p50": [0-9]*' | awk '{ print $2 }')
	p99=$(echo "$res" | grep -o '"p99": [0-9]*' | awk '{ print $2 }')
	p999=$(echo "$res" | grep -o '"p999": [0-9]*' | awk '{ print $2 }')
	printf '%s %s %s %s %s %s\n' "$rate" "$(awk -v p="$pct" 'BEGIN { print p / 100 }')" "$(awk -v v="$p50" 'BEGIN { print v / 1000 }')" \
		"$(awk -v v="$p99" 'BEGIN { print v / 1000 }')" "$(awk -v v="$p999" 'BEGIN { print v / 1000 }')" \
		"$(perf_field "$work/sweep-$pct.json" lost)" >>"$out/latency.dat"
	echo "perf: open loop at ${pct}% of max ($rate tasks/s): result p99 $((p99 / 1000)) us"
done
if command -v gnuplot >/dev/null; then
	gnuplot <<EOG
set terminal pngcairo size 900,560 noenhanced
set output "$out/latency.png"
set title "taskwire: result latency against offered load (noop, 64 B args, 1 task/frame, memif)"
set xlabel "offered load (tasks/s)"
set ylabel "latency, publish to result (us)"
set logscale y
set grid
set key top left
plot "$out/latency.dat" using 1:3 with linespoints title "p50", \
     "" using 1:4 with linespoints title "p99", \
     "" using 1:5 with linespoints title "p99.9"
EOG
fi

# the link's limit again, the engine stopped: these VMs change speed over minutes, and the
# ratios are taken against the mean of both (the spread is printed)
tw_engine_stop "$dir"
trap perf_release_cpu EXIT
echo "perf: baseline again"
link_last=$(baseline)
link_pps=$(awk -v a="$link_first" -v b="$link_last" 'BEGIN { printf "%.0f", (a + b) / 2 }')
echo "perf: link limit ${link_last} packets/s at the end; ratios against ${link_pps}"

{
	echo "# taskwire perf suite"
	echo
	echo "Engine: tw-dataplane, one polling lcore (run to completion) on CPU 1, pure polling."
	echo "Generator: tw-loadgen on CPU 0. Link: memif. Baseline: dpdk-testpmd txonly -> rxonly,"
	echo "128-byte frames, same link, same run, before and after the scenarios: ${link_first} and"
	echo "${link_last} packets/s, ratios against the mean **${link_pps} packets/s**. Command: \`make perf\`."
	echo "CPU 1 is kept for the measured side during the run (perf_isolate_cpu: other threads,"
	echo "unbound kernel threads and movable interrupts on CPU 0)."
	echo "\"engine lcore busy\": share of the polling lcore's cycles spent in passes that did"
	echo "work (its own TSC accounting); \"limit\" says which side held the rate: the engine"
	echo "when its lcore was busy 95% or more, else the load generator."
	echo "\"engine cycles/task\": the lcore's busy cycles over the scenario divided by the tasks"
	echo "it ran (its own counters, read before and after). Beside it, dpdk-testpmd forwarding"
	echo "128-byte packets on the same kind of link in the same run (\`--record-core-cycles\`,"
	echo "busy cycles per packet received): io mode ${tp_io_cpp}, macswap mode ${tp_mac_cpp} cycles/packet."
	echo
	echo "| scenario | tasks/s (result back) | limit | of testpmd's packet rate | engine cycles/task | ÷ testpmd io | ÷ testpmd macswap | result p50 (us) | result p99 (us) | lost | engine lcore busy |"
	echo "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for r in "${rows[@]}"; do
		echo "$r" | awk -v l="$link_pps" -v io="$tp_io_cpp" -v ms="$tp_mac_cpp" '{
			printf "| %s | %.0f | %s | %.1f%% | %d | %.2f | %.2f | %s | %s | %s | %s%% |\n", $1, $2,
				($6 >= 95 ? "engine" : "generator"), 100 * $2 / l, $7, $7 / io, $7 / ms, $3, $4, $5, $6 }'
	done
	echo
	echo "Latency against offered load (open loop, noop, 64 B args, 1 task/frame; \`latency.dat\`, plot \`latency.png\`):"
	echo
	echo "| offered tasks/s | of max | p50 (us) | p99 (us) | p99.9 (us) | lost |"
	echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
	grep -v '^#' "$out/latency.dat" | awk '{ printf "| %s | %d%% | %s | %s | %s | %s |\n", $1, $2 * 100, $3, $4, $5, $6 }'
	echo
	echo "The machine's own pauses on CPU 1 with CPU 0 busy, same run, before the engine started"
	echo "(\`tw-pause-probe\`, ${secs} s: a thread that only reads the clock): longest"
	echo "$(($(perf_field "$work/pause-probe.json" longest_pause_ns) / 1000)) us," \
		"$(perf_field "$work/pause-probe.json" pauses_over_1ms) pauses of 1 ms or more," \
		"$(perf_field "$work/pause-probe.json" pauses_over_100us) of 100 us or more. Tasks queued behind such"
	echo "a pause wait it out: tail latencies below it cannot be shown on this machine."
} >"$out/suite.md"
cat "$work"/*.json >"$out/suite.json"
cat "$out/suite.md"
trap - EXIT
perf_release_cpu
