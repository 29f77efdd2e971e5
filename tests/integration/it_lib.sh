# What the integration test scripts share (source it instead of
# deploy/lib.sh; run.sh has exported the engine's TW_* variables).
#
#   twctl ARGS...           twctl against this engine's tw-control
#   twctl_ns ARGS...        twctl inside the engine's namespace, with
#                           --engine (for what goes over the wire: publish)
#   publish ARGS...         twctl_ns publish ARGS...
#   fail MESSAGE...         print FAIL: MESSAGE and exit 1
#   counter NAME            a counter from `twctl status --json` (the last
#                           key of that name, engine or control), digits only
#   control_counter NAME    one of tw-control's own counters, 0 when absent
#   it_worker QUEUE NAME OPTS...  start tw-worker NAME on QUEUE in the
#                           engine's namespace, its pid appended to
#                           it_worker_pids (the caller stops them)
#   it_wait_consumers QUEUE N     until N consumers are subscribed to QUEUE
#                           (bounded: 10 s, else fail)
. "$(dirname "${BASH_SOURCE[0]}")/../../deploy/lib.sh"

twctl() { "$TW_BUILD/twctl" --socket "$TW_SOCKET" "$@"; }
twctl_ns() { tw_in_ns "$TW_BUILD/twctl" --socket "$TW_SOCKET" --engine "$TW_ENGINE" "$@"; }
publish() { twctl_ns publish "$@"; }
fail() {
	echo "FAIL: $*"
	exit 1
}
counter() {
	twctl status --json | tr -d ' \n' | grep -o "\"$1\":[0-9]*" | tail -1 | cut -d: -f2
}
control_counter() {
	twctl status --json | /usr/bin/python3 -c \
		'import json, sys; print(json.load(sys.stdin)["control"].get(sys.argv[1], 0))' "$1"
}

it_worker_pids=()
it_worker() {
	local queue=$1 name=$2
	shift 2
	# `ip netns exec` execs: $! is tw-worker itself (not so through a shell function)
	ip netns exec "$TW_NETNS" "$TW_BUILD/tw-worker" --engine "$TW_ENGINE" -Q "$queue" \
		--name "$name" "$@" >"$TW_DIR/worker-$name.log" 2>&1 &
	it_worker_pids+=($!)
}
it_wait_consumers() {
	local queue=$1 n=$2 i got=0
	for ((i = 0; i < 100; i++)); do
		got=$(twctl list consumers --json | /usr/bin/python3 -c \
			'import json,sys; print(sum(1 for c in json.load(sys.stdin) if sys.argv[1] in c["queues"]))' \
			"$queue")
		[ "$got" -ge "$n" ] && return 0
		tw_nap 0.1
	done
	fail "$got of $n consumers subscribed to $queue"
}

# A second host: network namespace NS (a GPU machine, say) reaching the
# engine through a routed veth link from the engine's namespace, as a
# worker host on the application network would (NS 10.79.0.2, the
# engine's side 10.79.0.1). it_host_del NS removes it (call it on exit).
it_host_add() {
	local ns=$1 a=twv-${TW_IT_TAG:-}${1: -4}0 b=twv-${TW_IT_TAG:-}${1: -4}1
	ip netns add "$ns"
	ip netns exec "$ns" ip link set lo up
	ip netns exec "$TW_NETNS" ip link add "$a" type veth peer name "$b"
	ip netns exec "$TW_NETNS" ip link set "$b" netns "$ns"
	ip netns exec "$TW_NETNS" ip addr add 10.79.0.1/24 dev "$a"
	ip netns exec "$TW_NETNS" ip link set "$a" up
	ip netns exec "$TW_NETNS" sysctl -qw net.ipv4.ip_forward=1
	ip netns exec "$ns" ip addr add 10.79.0.2/24 dev "$b"
	ip netns exec "$ns" ip link set "$b" up
	ip netns exec "$ns" ip route add default via 10.79.0.1
}
it_host_del() {
	ip netns del "$1" 2>/dev/null || true
	ip netns exec "$TW_NETNS" ip link del "twv-${TW_IT_TAG:-}${1: -4}0" 2>/dev/null || true
}

# The test's own engine ID with the pipeline plan and two io lcores (five
# lcores over the two CPUs: main, two io, two workers), stopped on exit;
# sets dir to its folder and reads its engine.env (TW_ENGINE, TW_SOCKET...).
it_engine_two_io() {
	TW_EAL_EXTRA="${TW_EAL_EXTRA:-} --lcores 0@0,1@1,2@1,3@0,4@1" \
		tw_engine_start "$1" --plan pipeline --io-lcores 2 ||
		fail "engine with two io lcores did not start"
	dir=$TW_DIR
	trap 'tw_engine_stop "$dir" || true' EXIT
	# shellcheck disable=SC1091
	. "$dir/engine.env"
	[ "$(grep -c ' io$' "$dir/dataplane.log")" -eq 2 ] || fail "plan: $(grep -A6 'lcore plan' "$dir/dataplane.log")"
}
