# Helpers of the durable-queue tests (sourced; the test sets dir, work and py):
# fail with the engine's and the test's logs, twctl on the engine's socket,
# a counter of `twctl status` and a bounded wait for one.
fail() {
	echo "FAIL: $*"
	for f in "$dir"/*.log "$work"/*.txt "$work"/*.log; do
		[ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }
	done
	exit 1
}
twctl() { "$TW_BUILD/twctl" --socket "$TW_SOCKET" "$@"; }
counter() {
	twctl status --json | $py -c "import json,sys; d=json.load(sys.stdin)
print(int(d['control'].get('$1', d['counters'].get('$1', 0))))"
}
# wait (bounded) until counter $1 equals $2
wait_counter() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(counter "$1")" = "$2" ] && return 0
		tw_nap 0.1
	done
	fail "$1 is $(counter "$1"), expected $2"
}
