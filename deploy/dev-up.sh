#!/usr/bin/env bash
# make up: a local engine in the background, described by build/dev.env
# (TW_SOCKET, TW_NETNS, TW_ENGINE), and tw-amqp beside it: AMQP 0-9-1
# clients on this host connect to TW_AMQP (127.0.0.1:5672, or
# TW_AMQP_PORT), guest/guest. The result store of the last make up
# (results, schedules, tasks held for later) and the durable queues'
# journal (TW_DATA_DIR, default build/data) are kept, so kill -9, make
# down, make up is a recovery; `make up CLEAN=1` starts with both empty. Publishers run inside the namespace:
#   . build/dev.env; ip netns exec $TW_NETNS build/twctl publish "" q noop
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ -f "$TW_BUILD/dev.env" ]; then
	echo "make up: an engine is already up ($TW_BUILD/dev.env); make down first" >&2
	exit 1
fi
TW_DATA_DIR=${TW_DATA_DIR:-$TW_BUILD/data}
export TW_DATA_DIR
if [ "${CLEAN:-0}" = 1 ]; then
	rm -rf "$TW_DATA_DIR"
	TW_KEEP_STORE=0
else
	TW_KEEP_STORE=1
fi
export TW_KEEP_STORE
tw_engine_start dev "$@"
cp "$TW_DIR/engine.env" "$TW_BUILD/dev.env"
# tw-amqp listens on the host's loopback and reaches the engine inside its
# namespace (--netns), so host clients need no namespace of their own
# shellcheck disable=SC1091
. "$TW_DIR/engine.env"
amqp_addr=127.0.0.1:${TW_AMQP_PORT:-5672}
"$TW_BUILD/tw-amqp" --engine "$TW_ENGINE" --socket "$TW_SOCKET" --netns "$TW_NETNS" \
	--listen "$amqp_addr" >"$TW_DIR/amqp.log" 2>&1 &
amqp_pid=$!
for _ in $(seq 100); do
	grep -q listening "$TW_DIR/amqp.log" 2>/dev/null && break
	kill -0 "$amqp_pid" 2>/dev/null || break
	tw_nap 0.05
done
if grep -q listening "$TW_DIR/amqp.log" 2>/dev/null; then
	printf 'TW_AMQP=%s\nTW_AMQP_PID=%s\n' "$amqp_addr" "$amqp_pid" >>"$TW_BUILD/dev.env"
	printf 'TW_AMQP_PID=%s\n' "$amqp_pid" >>"$TW_DIR/engine.env.amqp"
else
	echo "make up: tw-amqp did not start (the engine runs without it):" >&2
	cat "$TW_DIR/amqp.log" >&2
	tw_stop_pid "$amqp_pid" || true
fi
echo "taskwire is up:"
cat "$TW_BUILD/dev.env"
echo "try: . build/dev.env && build/twctl status"
