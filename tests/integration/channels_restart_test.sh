#!/usr/bin/env bash
# The Django Channels layer (taskwire.contrib.channels) when its engine goes
# away and comes back: this test's own engine (tw-control and tw-dataplane)
# is stopped under two live layer instances and started again, empty, in
# the same namespace. The driver (clients/python/tests/channels_restart.py)
# asserts clear ChannelLayerUnavailable errors within bounded times while
# it is gone (a waiting receive, a new receive, a send, a group_add, a new
# layer's first channel) and that the instances declare their queues,
# exchanges and bindings again, subscribe again, and send, receive and
# group_send work once it is back. The driver asks for each step on its
# output ("STEP stop", "STEP start") and waits for "ok" on its input.
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"

stop_engine() {
	# shellcheck disable=SC1091
	. "$TW_DIR/engine.env"
	tw_stop_pid "$TW_CTL_PID" || return 1
	tw_stop_pid "$TW_DP_PID" || return 1
}
start_engine() {
	local tap dp ctl
	# shellcheck disable=SC1091
	. "$TW_DIR/engine.env"
	tap=twt-$(basename "$TW_DIR")
	# moved, not copied: the waits below look for "ready" in these files,
	# and the first engine's line must not be taken for the second's
	mv "$TW_DIR/dataplane.log" "$TW_DIR/dataplane-before.log"
	mv "$TW_DIR/control.log" "$TW_DIR/control-before.log"
	# the same start as deploy/lib.sh's: same prefix, namespace and port,
	# and every CPU (this script runs pinned to the main lcore's: the
	# polling lcore would share it)
	# shellcheck disable=SC2086
	taskset -c "0-$(($(nproc) - 1))" ip netns exec "$TW_NETNS" "$TW_BUILD/tw-dataplane" --vdev="net_tap0,iface=$tap" --no-pci \
		--file-prefix "$TW_PREFIX" --log-level=lib.eal:error ${TW_EAL_EXTRA:-} -- \
		--ip "$TW_ENGINE_IP" --udp-port "$TW_UDP_PORT" --idle-sleep-us 200 \
		>"$TW_DIR/dataplane.log" 2>&1 &
	dp=$!
	disown "$dp" 2>/dev/null || true
	sed -i "s/^TW_DP_PID=.*/TW_DP_PID=$dp/" "$TW_DIR/engine.env"
	tw_wait_for_line "$TW_DIR/dataplane.log" "tw-dataplane: ready" "$dp" 60 || return 1
	ip netns exec "$TW_NETNS" ip addr add "$TW_PEER_IP/24" dev "$tap"
	ip netns exec "$TW_NETNS" ip link set "$tap" up
	tw_control_spawn "$TW_DIR" "$TW_PREFIX" "$TW_DIR/control.log"
	ctl=$!
	disown "$ctl" 2>/dev/null || true
	sed -i "s/^TW_CTL_PID=.*/TW_CTL_PID=$ctl/" "$TW_DIR/engine.env"
	tw_wait_for_line "$TW_DIR/control.log" "tw-control: ready" "$ctl" 60
}

root=$(cd "$(dirname "$0")/../.." && pwd)
bash "$root/clients/python/build.sh" "${TW_BUILD:-$root/build}/python" >/dev/null
export TW_PYTHON_GEN=${TW_BUILD:-$root/build}/python TW_ENGINE TW_SOCKET TW_DIR
export TW_RESTART_HELPER=$root/tests/integration/channels_restart_test.sh
cd "$root"
coproc DRV { ip netns exec "$TW_NETNS" /usr/bin/python3 -B clients/python/tests/channels_restart.py 2>&1; }
out=${DRV[0]} in=${DRV[1]} drv=$DRV_PID
while IFS= read -r line <&"$out"; do
	case $line in
	"STEP stop") if stop_engine; then echo ok >&"$in"; else echo failed >&"$in"; fi ;;
	"STEP start") if start_engine; then echo ok >&"$in"; else echo failed >&"$in"; fi ;;
	*) echo "$line" ;;
	esac
done
wait "$drv" || fail "the driver failed (above)"
