#!/usr/bin/env bash
# Integration tests: for each tests/integration/*_test binary, start a real
# engine (tw-dataplane on a TAP device in a fresh namespace + tw-control,
# deploy/lib.sh), run the test inside the namespace, stop the engine and
# check nothing is left. Prints one line per test and "N passed, N failed".
set -uo pipefail
. "$(dirname "$0")/../../deploy/lib.sh"

passed=0
failed=0
for bin in "$TW_BUILD"/tests/integration/*_test "$TW_ROOT"/tests/integration/*_test.sh; do
	name=$(basename "$bin")
	id="it${name%_test*}"
	id=${id:0:11}
	if ! tw_engine_start "$id"; then
		echo "FAIL $name (engine did not start)"
		failed=$((failed + 1))
		continue
	fi
	# shellcheck disable=SC1091
	. "$TW_DIR/engine.env"
	log=$TW_DIR/test.log
	# binaries run inside the namespace; scripts outside (they manage processes).
	# Tests stay off the polling lcores' CPUs (as a deployment isolates them),
	# on the main lcore's CPU, so that they do not preempt the engine.
	main_cpu=$(tw_main_cpu "$TW_DIR")
	if [[ $bin == *.sh ]]; then
		run=(taskset -c "${main_cpu:-0}" bash "$bin")
	else
		run=(taskset -c "${main_cpu:-0}" ip netns exec "$TW_NETNS" "$bin")
	fi
	if TW_TWCTL=$TW_BUILD/twctl TW_SOCKET=$TW_SOCKET TW_ENGINE=$TW_ENGINE \
		TW_DIR=$TW_DIR TW_NETNS=$TW_NETNS TW_PREFIX=$TW_PREFIX TW_DP_PID=$TW_DP_PID \
		TW_CTL_PID=$TW_CTL_PID timeout 300 "${run[@]}" >"$log" 2>&1; then
		result=PASS
	else
		result=FAIL
	fi
	if ! tw_engine_stop "$TW_DIR"; then
		echo "engine of $name did not stop cleanly" >>"$log"
		result=FAIL
	fi
	if [ "$result" = PASS ]; then
		passed=$((passed + 1))
		echo "PASS $name"
	else
		failed=$((failed + 1))
		echo "FAIL $name; its output:"
		sed 's/^/    /' "$log"
		echo "    --- dataplane log:"
		sed 's/^/    /' "$TW_DIR/dataplane.log"
		echo "    --- control log:"
		sed 's/^/    /' "$TW_DIR/control.log"
	fi
done
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
