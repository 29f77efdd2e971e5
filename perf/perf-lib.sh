# Engines and load generators on a memif pair, for the perf suites (source it).
#
#   perf_engine_start ID [tw-dataplane options...]  engine: memif server, pure polling
#   perf_loadgen DIR [tw-loadgen options...]         load generator: memif client
#   tw_engine_stop DIR                               (deploy/lib.sh) stop and clean up
#   perf_isolate_cpu CPU / perf_release_cpu          keep CPU for the engine's lcore
#   perf_pause_probe idle|busy SECONDS JSON           the machine's own pauses on CPU 1
#   perf_field JSON NAME                              a number from a JSON report
#
# The engine's polling lcore gets CPU 1 and the load generator CPU 0 (the
# engine's main lcore shares CPU 0 but only sleeps), as the issue's
# figures require: one core each. No network namespace: memif is a Unix
# socket between the two processes.
. "$(dirname "${BASH_SOURCE[0]}")/../deploy/lib.sh"

TW_PERF_ENGINE_IP=10.78.0.1
TW_PERF_LG_IP=10.78.0.2

# Keep CPU $1 for the engine's polling lcore while a benchmark runs, as
# `tuna --isolate` would on a tuned host: every thread allowed on it that
# may move (user threads, unbound kernel threads such as kdamond) is moved
# to the other CPUs, this shell included, and so are the interrupts that
# may move. On these 2-core VMs such
# threads (and /usr/bin/sleep in a harness's wait loop) were seen to
# preempt the lcore for up to 13 ms. perf_release_cpu puts them back.
perf_isolate_cpu() {
	local cpu=$1 t tid mask keep
	TW_ISOLATED=$(mktemp)
	for t in /proc/[0-9]*/task/[0-9]*; do
		tid=${t##*/}
		mask=$(taskset -p "$tid" 2>/dev/null) || continue
		mask=${mask##* }
		keep=$(( 0x$mask & ~(1 << cpu) ))
		[ "$keep" -ne 0 ] && [ "$keep" -ne $(( 0x$mask )) ] || continue
		taskset -p "$(printf '%x' "$keep")" "$tid" >/dev/null 2>&1 && echo "$tid $mask" >>"$TW_ISOLATED"
	done
	# interrupts too, where the kernel lets them move (managed ones stay)
	for t in /proc/irq/[0-9]*/smp_affinity; do
		mask=$(cat "$t" 2>/dev/null) || continue
		keep=$(( 0x${mask//,/} & ~(1 << cpu) ))
		[ "$keep" -ne 0 ] && [ "$keep" -ne $(( 0x${mask//,/} )) ] || continue
		printf '%x' "$keep" >"$t" 2>/dev/null && echo "irq:$t $mask" >>"$TW_ISOLATED"
	done
	# and the kernel's unbound workqueues (their kworker/uN:M threads were
	# seen preempting the lcore on this VM, several times a second)
	t=/sys/devices/virtual/workqueue/cpumask
	if mask=$(cat "$t" 2>/dev/null); then
		keep=$(( 0x${mask//,/} & ~(1 << cpu) ))
		[ "$keep" -ne 0 ] && [ "$keep" -ne $(( 0x${mask//,/} )) ] &&
			printf '%x' "$keep" >"$t" 2>/dev/null && echo "wq:$t $mask" >>"$TW_ISOLATED"
	fi
}

perf_release_cpu() {
	local tid mask
	[ -n "${TW_ISOLATED:-}" ] && [ -f "$TW_ISOLATED" ] || return 0
	while read -r tid mask; do
		case $tid in
		irq:*) echo "$mask" >"${tid#irq:}" 2>/dev/null || true ;;
		wq:*) echo "$mask" >"${tid#wq:}" 2>/dev/null || true ;;
		*) taskset -p "$mask" "$tid" >/dev/null 2>&1 || true ;;
		esac
	done <"$TW_ISOLATED"
	rm -f "$TW_ISOLATED"
}

perf_engine_start() {
	local id=$1; shift
	local dir=$TW_BUILD/run/$id prefix=tw-$id dp ctl
	# --cookies 0: tw-loadgen writes its frames itself, without the source
	# cookie round trip; a memif link inside one machine forges no source
	rm -rf "$dir"
	mkdir -p "$dir"
	"$TW_BUILD/tw-dataplane" --vdev="net_memif0,role=server,socket=$dir/memif.sock" --no-pci \
		--file-prefix "$prefix" --lcores "0@0,1@1" --log-level=lib.eal:error -- \
		--ip "$TW_PERF_ENGINE_IP" --idle-sleep-us 0 --cookies 0 "$@" >"$dir/dataplane.log" 2>&1 &
	dp=$!
	disown "$dp" 2>/dev/null || true
	printf 'TW_DP_PID=%s\nTW_PREFIX=%s\n' "$dp" "$prefix" >"$dir/engine.env"
	tw_wait_ready "$dir" dataplane "$dp" || return 1
	tw_control_spawn "$dir" "$prefix" "$dir/control.log"
	ctl=$!
	disown "$ctl" 2>/dev/null || true
	echo "TW_CTL_PID=$ctl" >>"$dir/engine.env"
	tw_wait_ready "$dir" control "$ctl" || return 1
	printf 'TW_DIR=%s\nTW_SOCKET=%s\nTW_MEMIF=%s\n' "$dir" "$dir/control.sock" "$dir/memif.sock" \
		>>"$dir/engine.env"
	TW_DIR=$dir
}

# tw-loadgen runs detached (setsid -f: not this shell's child) and is
# watched through its pid and its JSON report: on this kernel a shell (or
# coreutils timeout) waiting for tw-loadgen to exit was seen to spin in its
# wait long after the child was gone. A run is seconds long; two minutes
# means tw-loadgen hung. @return 0 when the report (--json FILE) was written
# (or, without --json, when it exited), 1 otherwise.
perf_loadgen() {
	local dir=$1; shift
	local id pidfile pid json="" prev="" a i
	id=$(basename "$dir")
	pidfile=$dir/loadgen.pid
	for a in "$@"; do
		[ "$prev" = --json ] && json=$a
		prev=$a
	done
	rm -f "$pidfile" ${json:+"$json"}
	# on CPU 0 with all its threads (see tw_control_spawn)
	setsid -f sh -c 'echo $$ >"$0"; exec taskset -c 0 "$@"' "$pidfile" \
		"$TW_BUILD/tw-loadgen" --no-huge -m 256 --no-pci --file-prefix "tw-$id-lg" \
		--vdev="net_memif0,role=client,socket=$dir/memif.sock" --lcores "0@0" \
		--log-level=lib.eal:error -- \
		--engine-ip "$TW_PERF_ENGINE_IP" --ip "$TW_PERF_LG_IP" "$@"
	for ((i = 0; i < 50; i++)); do
		[ -s "$pidfile" ] && break
		tw_nap 0.1
	done
	pid=$(cat "$pidfile" 2>/dev/null || true)
	for ((i = 0; i < 1200; i++)); do
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
		tw_nap 0.1
	done
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		echo "taskwire: tw-loadgen (pid $pid) still running after 120 s; stopping it" >&2
		tw_stop_pid "$pid"
	fi
	rm -rf "/var/run/dpdk/tw-$id-lg" "$pidfile"
	[ -z "$json" ] || [ -s "$json" ]
}

# The machine's own pauses on CPU 1 (tw-pause-probe: a thread that only
# reads the clock), with CPU 0 idle or kept busy as a load generator keeps
# it: the floor under the lcore's longest pass and the tail latencies.
# Run it while nothing of the benchmark runs. @return the probe's status.
perf_pause_probe() {
	local busy=$1 secs=$2 json=$3 opt=()
	[ "$busy" = busy ] && opt=(--busy-cpu 0)
	"$TW_BUILD/tw-pause-probe" --cpu 1 "${opt[@]}" --seconds "$secs" --json >"$json"
}

# The first number named NAME in the JSON report FILE (tw-loadgen's,
# tw-pause-probe's): their reports are flat enough for grep.
perf_field() { grep -o "\"$2\": [0-9.]*" "$1" | head -1 | awk '{ print $2 }'; }
