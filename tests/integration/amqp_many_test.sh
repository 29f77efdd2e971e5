#!/usr/bin/env bash
# tw-amqp carrying many consumers (libtaskwire's worker set: one UDP socket
# to the engine and no thread per consumer, heartbeats and closes timed
# from tw-amqp's loop; amqp/pika_many.py):
# 1. 1,000 consumers (100 queues, 10 consumers each, on 4 connections):
#    tw-amqp's descriptors, threads and memory are read while they are
#    open (one thread, a handful of descriptors, whatever their number);
#    24 more fill the engine's table (1,024) and the next is refused (406,
#    its channel closed, the others unharmed); then two rounds of traffic in which every consumer gets exactly one
#    message (consumers of one queue share the socket: each delivery must
#    reach the consumer the engine chose), all acked; every close answered.
# 2. A cancel storm: 500 consumers closed at once while another connection
#    publishes and consumes, its round trips staying short (the loop never
#    waits for the engine's answers); the 500 messages they held come back.
# 3. An engine that does not answer cancels (a relay drops them): 3
#    consumers cancelled, each close giving up after its bound (1 s),
#    counted (cancel_timeouts), only their channel waiting meanwhile; the
#    message one of them held comes back once the engine has dropped them
#    as silent.
# AMQP_BIN=<another tw-amqp> AMQP_MANY_FIGURES_ONLY=1 prints an older
# build's figures for step 1 without asserting them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/it_lib.sh"
. "$here/amqp/amqp_lib.sh"
QUEUES=${AMQP_MANY_QUEUES:-100}
PER_QUEUE=${AMQP_MANY_PER_QUEUE:-10}
N=$((QUEUES * PER_QUEUE))
STORM=${AMQP_MANY_STORM:-500}
LOST=3
relay_pid=
py_pid=
cleanup() {
	[ -z "$py_pid" ] || kill "$py_pid" 2>/dev/null || true
	amqp_stop >/dev/null 2>&1 || true
	[ -z "$relay_pid" ] || tw_stop_pid "$relay_pid"
}
trap cleanup EXIT

# 1. many consumers
ready=$TW_DIR/many-ready
go=$TW_DIR/many-go
rm -f "$ready" "$go"
amqp_start
before_fds=$(ls /proc/"$AMQP_PID"/fd | wc -l)
amqp_py "$here/amqp/pika_many.py" many "$QUEUES" "$PER_QUEUE" "$ready" "$go" \
	>"$TW_DIR/many.log" 2>&1 &
py_pid=$!
for _ in $(seq 1200); do
	[ -e "$ready" ] && break
	kill -0 "$py_pid" 2>/dev/null || break
	sleep 0.05
done
[ -e "$ready" ] || { cat "$TW_DIR/many.log"; amqp_fail "the consumers did not open"; }
fds=$(ls /proc/"$AMQP_PID"/fd | wc -l)
threads=$(awk '$1 == "Threads:" { print $2 }' /proc/"$AMQP_PID"/status)
rss=$(awk '$1 == "VmRSS:" { print $2 }' /proc/"$AMQP_PID"/status)
touch "$go"
wait "$py_pid" || { py_pid=; cat "$TW_DIR/many.log"; amqp_fail "many consumers"; }
py_pid=
cat "$TW_DIR/many.log"
echo "tw-amqp with $N consumers on 4 connections: $fds descriptors ($before_fds before), $threads threads, RSS $rss kB"
if [ -z "${AMQP_MANY_FIGURES_ONLY:-}" ]; then
	[ "$threads" -eq 1 ] || amqp_fail "$threads threads (one loop, nothing per consumer)"
	# the listener, epoll, the engine's two sockets, tw-control, 4 connections, stdio
	[ "$fds" -le $((before_fds + 8)) ] || amqp_fail "$fds descriptors for $N consumers"
fi
amqp_stop
closed=$(amqp_counter consumers_closed)
answered=$(amqp_counter cancels_answered)
[ -n "${AMQP_MANY_FIGURES_ONLY:-}" ] || {
	# the N, and the ones that filled the engine's table (up to 1,024)
	[ "${closed:-0}" -ge "$N" ] || amqp_fail "consumers_closed ${closed:-none}, want >= $N"
	[ "${answered:-0}" -eq "$closed" ] || amqp_fail "cancels_answered ${answered:-none} of $closed"
	[ "$(amqp_counter cancel_timeouts)" -eq 0 ] || amqp_fail "cancel_timeouts"
}

# 2. a cancel storm beside a busy connection
amqp_start
amqp_py_env FIGURES_ONLY="${AMQP_MANY_FIGURES_ONLY:-}" -- "$here/amqp/pika_many.py" storm "$STORM" ||
	amqp_fail "cancel storm"
amqp_stop
if [ -n "${AMQP_MANY_FIGURES_ONLY:-}" ]; then
	trap - EXIT
	echo "amqp_many_test: figures only"
	exit 0
fi
answered=$(amqp_counter cancels_answered)
[ "${answered:-0}" -ge "$STORM" ] || amqp_fail "cancels_answered ${answered:-none}, want >= $STORM"
[ "$(amqp_counter cancel_timeouts)" -eq 0 ] || amqp_fail "cancel_timeouts in the storm"

# 3. cancels the engine never answers
hold=$TW_DIR/hold-cancels
rm -f "$hold"
ip netns exec "$TW_NETNS" /usr/bin/python3 "$here/lossy_relay.py" \
	"$TW_PEER_IP:6003" "$TW_ENGINE" 0 1 0 "$hold" cancel >"$TW_DIR/relay3.log" 2>&1 &
relay_pid=$!
tw_wait_for_line "$TW_DIR/relay3.log" "relay ready" "$relay_pid" 10 || fail "relay did not start"
engine=$TW_ENGINE
TW_ENGINE=$TW_PEER_IP:6003 amqp_start
TW_ENGINE=$engine
amqp_py "$here/amqp/pika_many.py" lost "$hold" "$LOST" || amqp_fail "lost cancels"
amqp_stop
tw_stop_pid "$relay_pid"
relay_pid=
counts=$(tail -1 "$TW_DIR/relay3.log")
echo "relay: $counts"
dropped=$(sed -n 's/.*cancels_dropped=\([0-9]*\).*/\1/p' <<<"$counts")
[ "${dropped:-0}" -ge 1 ] || fail "the relay dropped ${dropped:-0} cancels"
timeouts=$(amqp_counter cancel_timeouts)
[ "${timeouts:-0}" -eq "$LOST" ] || amqp_fail "cancel_timeouts ${timeouts:-none}, want $LOST"
trap - EXIT
echo "amqp_many_test: all passed"
