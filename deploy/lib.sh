# taskwire engine lifecycle, shared by make up/down, make run and the
# integration tests (source it; functions only, no side effects).
#
#   tw_engine_start ID [tw-dataplane options...]   start an engine, write $TW_DIR/engine.env
#     (TW_DATA_DIR set: tw-dataplane keeps its durable queues' journal there
#     and recovers it at start; the directory is never removed here)
#   tw_engine_stop DIR                              stop it and remove all it made
#   tw_in_ns CMD...                                 run CMD inside the engine's namespace
#
# An engine is tw-dataplane on a TAP device inside network namespace tw-ID
# (engine 10.77.0.1, kernel side 10.77.0.2/24) plus tw-control attached as
# a secondary process, with its own --file-prefix tw-ID. Nothing leaves the
# namespace; every process is stopped by PID with a time limit.

TW_ROOT=${TW_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
TW_BUILD=${TW_BUILD:-$TW_ROOT/build}
TW_ENGINE_IP=10.77.0.1
TW_PEER_IP=10.77.0.2
TW_UDP_PORT=5555

# Sleep SECONDS (fractions allowed) without starting a process: a read
# that times out on a pipe nobody writes to. The wait loops here poll ten
# times a second, and /usr/bin/sleep costs a fork and an exec each time
# (about half a millisecond of CPU on these VMs), taken from whatever
# shares the CPU, a polling lcore or a load generator.
tw_nap() {
	[ -n "${TW_NAP_FD:-}" ] || exec {TW_NAP_FD}<> <(:)
	read -rt "$1" -u "$TW_NAP_FD" || true
}

# Wait until FILE contains PATTERN, while PID lives; TIMEOUT seconds.
tw_wait_for_line() {
	local file=$1 pattern=$2 pid=$3 timeout=$4 i
	for ((i = 0; i < timeout * 10; i++)); do
		grep -q "$pattern" "$file" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		tw_nap 0.1
	done
	return 1
}

# Stop PID: TERM, wait up to 10 s, then KILL and wait up to 5 s more.
tw_stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		tw_nap 0.1
	done
	echo "taskwire: pid $pid ignored SIGTERM for 10 s; killing it" >&2
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		tw_nap 0.1
	done
	return 1
}

# The CPU of the engine's main lcore (housekeeping), from its start-up plan.
tw_main_cpu() {
	awk '/ main$/ { print $4; exit }' "$1/dataplane.log"
}

# Start tw-control for the engine in DIR with extra control options. It
# runs on the main lcore's CPU, all its threads included: EAL puts control
# threads on CPUs no lcore of *this* process uses, which would otherwise be
# the engine's polling CPUs.
tw_control_spawn() {
	local dir=$1 prefix=$2 log=$3; shift 3
	local cpu
	cpu=$(tw_main_cpu "$dir")
	cpu=${cpu:-0}
	taskset -c "$cpu" "$TW_BUILD/tw-control" --file-prefix "$prefix" --no-pci \
		--lcores "127@$cpu" --log-level=lib.eal:error -- --socket "$dir/control.sock" \
		--metrics 127.0.0.1:0 --store "$dir/store" "$@" \
		>"$log" 2>&1 &
}

# Wait for tw-ROLE's ready line; on failure show its log and undo the start.
tw_wait_ready() {
	local dir=$1 role=$2 pid=$3
	tw_wait_for_line "$dir/$role.log" "tw-$role: ready" "$pid" 60 && return 0
	echo "taskwire: tw-$role did not start; its log:" >&2
	cat "$dir/$role.log" >&2
	tw_engine_stop "$dir"
	return 1
}

tw_engine_start() {
	local id=$1; shift
	local dir=$TW_BUILD/run/$id ns=tw-$id prefix=tw-$id tap=twt-$id dp ctl
	if [ ${#tap} -gt 15 ]; then
		echo "taskwire: engine id '$id' too long (interface names have 15 bytes)" >&2
		return 1
	fi
	if ip netns list | grep -qw "$ns"; then
		echo "taskwire: namespace $ns exists; is engine '$id' already up? (make down)" >&2
		return 1
	fi
	# TW_KEEP_STORE=1 (make up): the result store and what tw-control kept
	# in it (held tasks, schedules) stay from the last run; all else goes
	if [ "${TW_KEEP_STORE:-0}" = 1 ] && [ -d "$dir/store" ]; then
		find "$dir" -mindepth 1 -maxdepth 1 ! -name store -exec rm -rf {} +
	else
		rm -rf "$dir"
	fi
	mkdir -p "$dir"
	ip netns add "$ns" || return 1
	ip netns exec "$ns" ip link set lo up

	# `ip netns exec` execs the binary, so $! is tw-dataplane's own PID.
	# TW_EAL_EXTRA: EAL options of a sanitized build (make test SANITIZE=...)
	# TW_DP_WRAP: a command tw-dataplane runs under (a test's fault
	# injector); $! is then the wrapper's PID
	# shellcheck disable=SC2086
	ip netns exec "$ns" ${TW_DP_WRAP:-} "$TW_BUILD/tw-dataplane" --vdev="net_tap0,iface=$tap" --no-pci \
		--file-prefix "$prefix" --log-level=lib.eal:error ${TW_EAL_EXTRA:-} -- \
		--ip "$TW_ENGINE_IP" --udp-port "$TW_UDP_PORT" --idle-sleep-us 200 \
		${TW_DATA_DIR:+--data-dir "$TW_DATA_DIR"} "$@" \
		>"$dir/dataplane.log" 2>&1 &
	dp=$!
	disown "$dp" 2>/dev/null || true
	echo "TW_DP_PID=$dp" >"$dir/engine.env"
	echo "TW_NETNS=$ns" >>"$dir/engine.env"
	echo "TW_PREFIX=$prefix" >>"$dir/engine.env"
	[ -z "${TW_DATA_DIR:-}" ] || echo "TW_DATA_DIR=$TW_DATA_DIR" >>"$dir/engine.env"
	tw_wait_ready "$dir" dataplane "$dp" || return 1
	ip netns exec "$ns" ip addr add "$TW_PEER_IP/24" dev "$tap"
	ip netns exec "$ns" ip link set "$tap" up

	tw_control_spawn "$dir" "$prefix" "$dir/control.log"
	ctl=$!
	disown "$ctl" 2>/dev/null || true
	echo "TW_CTL_PID=$ctl" >>"$dir/engine.env"
	tw_wait_ready "$dir" control "$ctl" || return 1
	cat >>"$dir/engine.env" <<EOT
TW_METRICS=$(sed -n 's|^tw-control: metrics on http://\(.*\)/metrics$|\1|p' "$dir/control.log")
TW_DIR=$dir
TW_SOCKET=$dir/control.sock
TW_ENGINE=$TW_ENGINE_IP:$TW_UDP_PORT
EOT
	TW_DIR=$dir
	export TW_DIR
	return 0
}

# Run a command in the namespace of the engine whose env file is loaded.
tw_in_ns() {
	ip netns exec "$TW_NETNS" "$@"
}

tw_engine_stop() {
	local dir=$1 rc=0 TW_DP_PID= TW_CTL_PID= TW_NETNS= TW_PREFIX=
	[ -f "$dir/engine.env" ] || return 0
	# shellcheck disable=SC1091
	. "$dir/engine.env"
	# control first: a secondary must not outlive its primary
	tw_stop_pid "$TW_CTL_PID" || rc=1
	tw_stop_pid "$TW_DP_PID" || rc=1
	if [ -n "$TW_NETNS" ] && ip netns list | grep -qw "$TW_NETNS"; then
		ip netns del "$TW_NETNS" || rc=1
	fi
	# EAL names its hugepage files PREFIXmap_N: only those (a bare
	# PREFIX* would take those of another engine whose prefix starts
	# with this one's, tw-dj and tw-djdur say)
	if [ -n "$TW_PREFIX" ]; then
		rm -f /dev/hugepages/"$TW_PREFIX"map_*
		rm -rf "/var/run/dpdk/$TW_PREFIX"
	fi
	# verify nothing is left
	for p in $TW_CTL_PID $TW_DP_PID; do
		if kill -0 "$p" 2>/dev/null; then
			echo "taskwire: pid $p still running" >&2
			rc=1
		fi
	done
	if [ -n "$TW_PREFIX" ] && compgen -G "/dev/hugepages/${TW_PREFIX}map_*" >/dev/null; then
		echo "taskwire: hugepage files of $TW_PREFIX left" >&2
		rc=1
	fi
	rm -f "$dir/engine.env"
	return $rc
}
