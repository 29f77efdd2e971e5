#!/usr/bin/env bash
# tw-amqp's requests to tw-control go over one persistent connection driven
# by its event loop (amqp/pika_control.py says what is asserted): a
# declare waiting on a stopped tw-control does not hold up other
# connections' publishes and consumers; frames behind it on its channel
# wait in order; past --control-timeout-ms the waiting connection is
# closed with 541; after tw-control is restarted tw-amqp reconnects and a
# declare on a connection opened before works.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/it_lib.sh"
. "$here/amqp/amqp_lib.sh"
mark=$TW_DIR/ctl-marks
rm -rf "$mark"
mkdir -p "$mark"
py_pid=
cleanup() {
	kill -CONT "$TW_CTL_PID" 2>/dev/null || true
	[ -z "$py_pid" ] || kill "$py_pid" 2>/dev/null || true
	amqp_stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
amqp_start --control-timeout-ms 2500
AMQP_PY_TIMEOUT=90 amqp_py_env CTL_PID="$TW_CTL_PID" CTL_TIMEOUT_MS=2500 MARK="$mark" -- \
	"$here/amqp/pika_control.py" &
py_pid=$!
# the restart the script asks for, then its outcome
for _ in $(seq 1200); do
	[ -e "$mark/restart" ] && break
	kill -0 "$py_pid" 2>/dev/null || break
	sleep 0.1
done
if [ -e "$mark/restart" ]; then
	tw_stop_pid "$TW_CTL_PID" || amqp_fail "tw-control did not stop"
	mv "$TW_DIR/control.log" "$TW_DIR/control-before.log"
	tw_control_spawn "$TW_DIR" "$TW_PREFIX" "$TW_DIR/control.log"
	TW_CTL_PID=$!
	sed -i "s/^TW_CTL_PID=.*/TW_CTL_PID=$TW_CTL_PID/" "$TW_DIR/engine.env"
	tw_wait_for_line "$TW_DIR/control.log" "tw-control: ready" "$TW_CTL_PID" 60 ||
		amqp_fail "tw-control restart: $(cat "$TW_DIR/control.log")"
	touch "$mark/restarted"
fi
rc=0
wait "$py_pid" || rc=$?
py_pid=
[ "$rc" -eq 0 ] || amqp_fail "control scenario (exit $rc)"
amqp_stop
trap - EXIT
cat "$AMQP_LOG"
[ "$(amqp_counter ctl_timeouts)" -ge 1 ] || amqp_fail "ctl_timeouts counter"
[ "$(amqp_counter ctl_connects)" -ge 3 ] || amqp_fail "ctl_connects counter (reconnections)"
[ "$(amqp_counter parked_frames)" -ge 2 ] || amqp_fail "parked_frames counter"
echo "amqp_control_test: all passed"
