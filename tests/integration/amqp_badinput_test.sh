#!/usr/bin/env bash
# tw-amqp against bad input, each outcome asserted (amqp/amqp_badinput.py):
# garbage and other protocol versions before the header, frames over
# frame_max or without their end octet, methods on channels not open,
# unknown classes, malformed methods, tx.select, a silent client past its
# heartbeat, another connection's exclusive queue, 10,000 connections
# opened and dropped, 4,000 of them open at once (descriptors back where
# they were), a client that stops reading (throttled, memory bounded,
# others not slowed). tw-amqp
# must still be running at the end and stop cleanly.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/amqp/amqp_lib.sh"
trap 'amqp_stop >/dev/null 2>&1 || true' EXIT
# sanitized: ASan keeps freed memory in a quarantine of 256 MB by default,
# which the stalled-reader memory bound would measure instead of tw-amqp's
# buffering; a small one keeps the bound about tw-amqp
if [ -n "${TW_SANITIZED:-}" ]; then
	export ASAN_OPTIONS="quarantine_size_mb=16${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
fi
amqp_start
AMQP_PY_TIMEOUT=240 amqp_py_env AMQP_PID="$AMQP_PID" "$here/amqp/amqp_badinput.py" ||
	amqp_fail "bad input scenario"
amqp_stop
trap - EXIT
cat "$AMQP_LOG"
[ "$(amqp_counter bad_header)" -ge 3 ] || amqp_fail "bad_header counter"
[ "$(amqp_counter throttled)" -ge 1 ] || amqp_fail "throttled counter"
[ "$(amqp_counter heartbeat_timeouts)" -ge 1 ] || amqp_fail "heartbeat_timeouts counter"
[ "$(amqp_counter connections_accepted)" -ge 10000 ] || amqp_fail "connections_accepted counter"
echo "amqp_badinput_test: all passed"
