#!/usr/bin/env bash
# tw-amqp over a lossy link to the engine: its datagrams pass a relay that
# drops 5% and reorders 5% each way (tests/integration/lossy_relay.py;
# this kernel has no netem). pika publishes 1,000 messages on a channel
# WITHOUT confirms; tw-amqp's publisher resends what the engine has not
# confirmed (the engine keeps one copy), so the queue holds every message
# once. They are then consumed through a tw-amqp on the direct path:
# each exactly once, none left. Last, an engine that does not answer
# subscribes (a relay drops them while a file exists;
# amqp/pika_subscribe.py): basic.consume and basic.get wait without
# holding up other connections, end in 541 past the timeout (counted),
# and go on when a resent subscribe is answered.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/it_lib.sh"
. "$here/amqp/amqp_lib.sh"
N=1000
relay_pid=
cleanup() {
	amqp_stop >/dev/null 2>&1 || true
	[ -z "$relay_pid" ] || tw_stop_pid "$relay_pid"
}
trap cleanup EXIT
# ip netns exec execs python: $! is the relay itself
ip netns exec "$TW_NETNS" /usr/bin/python3 "$here/lossy_relay.py" \
	"$TW_PEER_IP:6001" "$TW_ENGINE" 5 7 5 >"$TW_DIR/relay.log" 2>&1 &
relay_pid=$!
tw_wait_for_line "$TW_DIR/relay.log" "relay ready" "$relay_pid" 10 || fail "relay did not start"

engine=$TW_ENGINE
TW_ENGINE=$TW_PEER_IP:6001 amqp_start
amqp_py "$here/amqp/pika_loss.py" publish "$N" || amqp_fail "publish"
# the queue fills as resends get through (bounded)
for ((i = 0; i < 100; i++)); do
	ready=$(twctl list queues | awk '$1 == "lossq" { print $3 }')
	[ "${ready:-0}" -ge "$N" ] && break
	tw_nap 0.2
done
amqp_stop
tw_stop_pid "$relay_pid"
relay_pid=
counts=$(tail -1 "$TW_DIR/relay.log")
echo "relay: $counts"
dropped=$(sed -n 's/.*to_engine_dropped=\([0-9]*\).*/\1/p' <<<"$counts")
[ "${dropped:-0}" -gt 0 ] || fail "the relay dropped nothing on the way to the engine: $counts"
[ "${ready:-0}" -eq "$N" ] || fail "the queue holds ${ready:-0} of $N messages"

TW_ENGINE=$engine amqp_start
amqp_py "$here/amqp/pika_loss.py" consume "$N" || amqp_fail "consume"
amqp_stop

hold=$TW_DIR/hold-subscribes
rm -f "$hold"
ip netns exec "$TW_NETNS" /usr/bin/python3 "$here/lossy_relay.py" \
	"$TW_PEER_IP:6002" "$engine" 0 1 0 "$hold" >"$TW_DIR/relay2.log" 2>&1 &
relay_pid=$!
tw_wait_for_line "$TW_DIR/relay2.log" "relay ready" "$relay_pid" 10 || fail "relay did not start"
TW_ENGINE=$TW_PEER_IP:6002 amqp_start
amqp_py_env HOLD="$hold" -- "$here/amqp/pika_subscribe.py" || amqp_fail "subscribe"
amqp_stop
tw_stop_pid "$relay_pid"
relay_pid=
counts=$(tail -1 "$TW_DIR/relay2.log")
echo "relay: $counts"
held=$(sed -n 's/.*subscribes_dropped=\([0-9]*\).*/\1/p' <<<"$counts")
[ "${held:-0}" -ge 3 ] || fail "the relay dropped ${held:-0} subscribes"
timeouts=$(amqp_counter subscribe_timeouts)
[ "${timeouts:-0}" -eq 2 ] || amqp_fail "subscribe_timeouts counter: ${timeouts:-none}, want 2"
trap - EXIT
echo "amqp_loss_test: all passed"
