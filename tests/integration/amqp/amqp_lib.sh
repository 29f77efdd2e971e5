# Sourced by the amqp_*_test.sh scripts (run by run.sh in an engine's
# environment: TW_NETNS, TW_ENGINE, TW_SOCKET, TW_DIR, TW_BUILD): start
# tw-amqp inside the engine's namespace, on loopback, and stop it by PID.
# AMQP_BIN runs another tw-amqp binary (an older build, to compare figures).
AMQP_PORT=${AMQP_PORT:-5672}
TW_BUILD=${TW_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/build}
AMQP_LOG=$TW_DIR/amqp.log
amqp_fail() {
	echo "FAIL: $*"
	echo "--- tw-amqp log:"
	cat "$AMQP_LOG" 2>/dev/null || true
	exit 1
}
# Start tw-amqp with extra options; waits (bounded) until it listens.
amqp_start() {
	ip netns exec "$TW_NETNS" "${AMQP_BIN:-$TW_BUILD/tw-amqp}" --engine "$TW_ENGINE" --socket "$TW_SOCKET" \
		--listen "127.0.0.1:$AMQP_PORT" "$@" >"$AMQP_LOG" 2>&1 &
	AMQP_PID=$!
	for _ in $(seq 100); do
		grep -q "listening" "$AMQP_LOG" 2>/dev/null && return 0
		kill -0 "$AMQP_PID" 2>/dev/null || amqp_fail "tw-amqp exited at start"
		sleep 0.05
	done
	amqp_fail "tw-amqp did not start listening"
}
# Stop it (SIGTERM, bounded wait, then SIGKILL); fails the test if it had crashed.
amqp_stop() {
	local rc=0
	[ -n "${AMQP_PID:-}" ] || return 0
	if ! kill -0 "$AMQP_PID" 2>/dev/null; then
		wait "$AMQP_PID" || rc=$?
		AMQP_PID=
		amqp_fail "tw-amqp was not running any more (exit $rc)"
	fi
	kill -TERM "$AMQP_PID"
	for _ in $(seq 100); do
		kill -0 "$AMQP_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$AMQP_PID" 2>/dev/null && rc=1
	wait "$AMQP_PID" || rc=$?
	AMQP_PID=
	[ "$rc" -eq 0 ] || amqp_fail "tw-amqp did not stop cleanly (exit $rc)"
}
# A counter tw-amqp printed when it stopped.
amqp_counter() {
	awk -v n="$1" '$1 == n { print $2 }' "$AMQP_LOG"
}
amqp_py() {
	amqp_py_env -- "$@"
}
# amqp_py_env VAR=VALUE... -- script args: with more environment
amqp_py_env() {
	local envs=()
	while [ $# -gt 0 ] && [ "$1" != -- ] && [[ $1 == *=* ]]; do
		envs+=("$1")
		shift
	done
	[ "${1:-}" != -- ] || shift
	ip netns exec "$TW_NETNS" env AMQP_PORT="$AMQP_PORT" "${envs[@]}" \
		timeout "${AMQP_PY_TIMEOUT:-120}" /usr/bin/python3 -B "$@"
}
