#!/usr/bin/env bash
# A durable AMQP queue is a durable engine queue: with pika through
# tw-amqp, on an engine with a data directory (its journal), 20 persistent
# messages published with confirms, 5 taken and acked, 3 taken and left
# unacked; then kill -9 of tw-dataplane and tw-control (tw-amqp loses its
# engine under an open connection), restart of the three: the 15 not acked
# come back in order, bodies and headers intact, the 3 delivered before
# with redelivered set, the 5 acked never. First, on the engine run.sh
# started (no journal), a durable declare is kept in memory, not refused:
# Celery declares every queue durable.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/it_lib.sh"
. "$here/amqp/amqp_lib.sh"
id=ad${TW_IT_TAG:-}
id=${id:0:9}
dir=$TW_BUILD/run/$id
work=$TW_BUILD/run/$id-work
bg=
cleanup() {
	local rc=$?
	[ -z "$bg" ] || tw_stop_pid "$bg" || true
	amqp_stop >/dev/null 2>&1 || true
	if [ $rc -ne 0 ]; then
		for f in "$work"/*.log "$dir/dataplane.log" "$AMQP_LOG"; do
			[ -f "$f" ] && { echo "--- $f"; tail -25 "$f"; }
		done
	fi
	tw_engine_stop "$dir" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
# durable NAME: the engine's "durable" flag of queue NAME, as a list
durable() {
	twctl --json list queues | /usr/bin/python3 -c \
		'import json,sys; print([q["durable"] for q in json.load(sys.stdin) if q["name"] == sys.argv[1]])' "$1"
}

# without a journal: in memory
amqp_start
out=$(amqp_py "$here/amqp/pika_durable.py" memory mq) || amqp_fail "durable declare, no journal: $out"
[ "$(durable mq)" = "[False]" ] || fail "mq: $(twctl --json list queues)"
amqp_stop
echo "ok: a durable declare on an engine without a journal: kept in memory, a message through"
tw_engine_stop "$TW_DIR" >/dev/null 2>&1 || true

start() {
	TW_DATA_DIR=$work/data tw_engine_start "$id" || fail "engine did not start"
	# shellcheck disable=SC1091
	. "$dir/engine.env"
	AMQP_LOG=$work/amqp-$1.log
	amqp_start
}
rm -rf "$work"
mkdir -p "$work/data"
start 1
amqp_py "$here/amqp/pika_durable.py" before dq 20 >"$work/before.log" 2>&1 &
bg=$!
tw_wait_for_line "$work/before.log" "before ok" "$bg" 60 || fail "before: $(cat "$work/before.log")"
[ "$(durable dq)" = "[True]" ] || fail "dq not durable: $(twctl --json list queues)"
kill -9 "$TW_CTL_PID" "$TW_DP_PID"
tw_stop_pid "$TW_CTL_PID" || true
tw_stop_pid "$TW_DP_PID" || true
tw_stop_pid "$bg" || true
bg=
amqp_stop >/dev/null 2>&1 || true
tw_engine_stop "$dir" >/dev/null 2>&1 || true
start 2
out=$(amqp_py "$here/amqp/pika_durable.py" after dq 20) || fail "after the restart: $out"
echo "ok: $out"
amqp_stop
echo "amqp_durable: all passed"
