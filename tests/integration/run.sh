#!/usr/bin/env bash
# Integration tests: for each tests/integration/*_test binary, start a real
# engine (tw-dataplane on a TAP device in a fresh namespace + tw-control,
# deploy/lib.sh), run the test inside the namespace, stop the engine and
# check nothing is left. Prints one line per test and "N passed, N failed";
# TW_IT_SHOW=1 prints a passing test's output too.
#
# Lanes: most tests spend their time waiting (countdowns, timeouts, workers
# starting), so TW_IT_LANES tests (default 1) may run at once, each with
# its own engine, namespace, file prefix and folder. A
# test whose source has a line "runs alone: WHY" (a comment) runs with no
# other test beside it: it bounds a latency or compares two rates, which a
# second engine on the same CPUs would disturb. Those run first, one at a
# time, then the others in the lanes, each lane taking the next test when
# its last one is done. A test's lines are printed whole when it ends.
set -uo pipefail
. "$(dirname "$0")/../../deploy/lib.sh"
. "$(dirname "$0")/../select.sh"

# The source of a test: a script is its own; a binary's is NAME.c here.
test_source() {
	local src=$1
	[[ $src == *.sh ]] || src=$TW_ROOT/tests/integration/$(basename "$src").c
	echo "$src"
}
# tw-dataplane options a test needs (limits made small enough to reach in
# a test): its source's line "engine options: ..." (a comment).
engine_options() {
	sed -n 's/^.*engine options: //p' "$(test_source "$1")" 2>/dev/null | head -1
}
runs_alone() {
	grep -q "runs alone: " "$(test_source "$1")" 2>/dev/null
}
# A test whose source has a line "not repeated sanitized: WHY" (a comment)
# runs in the plain make test only: its C paths are sanitized by others,
# and its time goes to a browser or an interpreter, not to the engine.
not_sanitized() {
	[ -n "${TW_SANITIZED:-}" ] && grep -q "not repeated sanitized: " "$(test_source "$1")" 2>/dev/null
}
# One test: engine up, run, engine down. ID names its engine (namespace,
# file prefix, folder). @return 0 pass, 1 fail, 124 the test hung (killed
# by its time limit).
run_one() {
	local bin=$1 id=$2 name log main_cpu result rc t0
	name=$(basename "$bin")
	t0=$SECONDS
	# shellcheck disable=SC2046
	if ! tw_engine_start "$id" $(engine_options "$bin"); then
		echo "FAIL $name (engine did not start)"
		return 1
	fi
	# shellcheck disable=SC1091
	. "$TW_DIR/engine.env"
	log=$TW_DIR/test.log
	main_cpu=$(tw_main_cpu "$TW_DIR")
	if [[ $bin == *.sh ]]; then
		run=(taskset -c "${main_cpu:-0}" bash "$bin")
	else
		run=(taskset -c "${main_cpu:-0}" ip netns exec "$TW_NETNS" "$bin")
	fi
	rc=0
	TW_TWCTL=$TW_BUILD/twctl TW_SOCKET=$TW_SOCKET TW_ENGINE=$TW_ENGINE \
		TW_DIR=$TW_DIR TW_NETNS=$TW_NETNS TW_PREFIX=$TW_PREFIX TW_DP_PID=$TW_DP_PID \
		TW_CTL_PID=$TW_CTL_PID timeout 300 "${run[@]}" >"$log" 2>&1 || rc=$?
	result=PASS
	[ $rc -eq 0 ] || result=FAIL
	if ! tw_engine_stop "$TW_DIR"; then
		echo "engine of $name did not stop cleanly" >>"$log"
		result=FAIL
	fi
	if [ "$result" = PASS ]; then
		echo "PASS $name ($((SECONDS - t0)) s)"
		[ -z "${TW_IT_SHOW:-}" ] || sed "s/^/    /" "$log"
		return 0
	fi
	if [ $rc -eq 124 ]; then
		echo "HANG $name (killed after 300 s); its output:"
		sed 's/^/    /' "$log"
		return 124
	fi
	echo "FAIL $name ($((SECONDS - t0)) s); its output:"
	sed 's/^/    /' "$log"
	echo "    --- dataplane log:"
	sed 's/^/    /' "$TW_DIR/dataplane.log"
	echo "    --- control log:"
	sed 's/^/    /' "$TW_DIR/control.log"
	return 1
}
# A test and, after a hang, the same test once more. @return 0 pass
run_counted() {
	local rc=0
	run_one "$1" "$2" || rc=$?
	# A hang (on this machine's kernel a test shell was seen spinning in a
	# wait after its child had exited, about once in two runs of the memif
	# tests; the test itself had passed) is reported above and the test
	# runs once more; a real failure is not retried.
	if [ $rc -eq 124 ]; then
		echo "retrying $(basename "$1") once after the hang"
		rc=0
		run_one "$1" "$2" || rc=$?
	fi
	return $rc
}

tests=() ids=() alone=() shared=() unsanitized=()
for bin in "$TW_BUILD"/tests/integration/*_test "$TW_ROOT"/tests/integration/*_test.sh; do
	tw_test_selected "$bin" || continue
	name=$(basename "$bin")
	if not_sanitized "$bin"; then
		unsanitized+=("$name")
		continue
	fi
	# TW_IT_TAG: a few letters that keep engines of two checkouts tested at
	# once on one machine apart (namespace, file prefix, interface). Ids
	# have 11 bytes at most (the interface name twt-ID has 15); tests run
	# side by side need different ones, so a cut that repeats an earlier
	# test's takes a number.
	id="it${TW_IT_TAG:-}${name%_test*}"
	id=${id:0:11}
	if [[ " ${ids[*]} " == *" $id "* ]]; then
		id=${id:0:9}$(printf '%02d' "${#tests[@]}")
	fi
	if runs_alone "$bin"; then alone+=(${#tests[@]}); else shared+=(${#tests[@]}); fi
	tests+=("$bin")
	ids+=("$id")
done

# Lanes need a CPU each and hugepages for two engines each (a test may
# start a second one) of about 135 pages: 1,024 for two. One lane unless
# TW_IT_LANES says otherwise: on this project's shared 2-vCPU machine under
# a load of 20 and more, tests with waits of a few hundred ms failed beside
# another test more often than alone (see the "runs alone" markers).
lanes=${TW_IT_LANES:-1}
if [ "$lanes" -gt 1 ] && [ "$(awk '/^HugePages_Total:/ { print $2 }' /proc/meminfo)" -lt $((512 * lanes)) ]; then
	echo "integration: one lane ($lanes need $((512 * lanes)) hugepages: TW_HUGEPAGES=$((512 * lanes)) bash deploy/setup-hugepages.sh)"
	lanes=1
fi
if [ "$lanes" -gt "$(nproc)" ]; then
	echo "integration: $(nproc) lanes (one per CPU)"
	lanes=$(nproc)
fi
# one lane: every test in its turn, as listed
if [ "$lanes" -eq 1 ]; then
	alone=() shared=()
	for ((i = 0; i < ${#tests[@]}; i++)); do shared+=("$i"); done
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/tw-it-run.XXXXXX")
lane_pids=()
stop_lanes() {
	[ ${#lane_pids[@]} -eq 0 ] || kill "${lane_pids[@]}" 2>/dev/null
	rm -rf "$work"
	exit 130
}
trap stop_lanes INT TERM
# Test number I, its lines printed whole once it ended; its verdict kept
# in $work/I.rc for the count.
run_numbered() {
	local i=$1 rc=0
	run_counted "${tests[$i]}" "${ids[$i]}" >"$work/$i.out" 2>&1 || rc=1
	echo $rc >"$work/$i.rc"
	flock "$work/print.lock" cat "$work/$i.out"
}
# The next test of the shared queue for a lane: its number, or nothing.
next_shared() {
	flock "$work/queue.lock" bash -c '
		n=$(cat "$1" 2>/dev/null || echo 0)
		echo $((n + 1)) >"$1"
		echo "$n"' _ "$work/queue.next"
}
for i in ${alone[@]+"${alone[@]}"}; do
	run_numbered "$i"
done
for ((l = 0; l < lanes; l++)); do
	(
		while :; do
			k=$(next_shared)
			[ "$k" -lt ${#shared[@]} ] || break
			run_numbered "${shared[$k]}"
		done
	) &
	lane_pids+=($!)
done
wait "${lane_pids[@]}" 2>/dev/null
passed=0
failed=0
for ((i = 0; i < ${#tests[@]}; i++)); do
	if [ "$(cat "$work/$i.rc" 2>/dev/null)" = 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done
rm -rf "$work"
[ ${#unsanitized[@]} -eq 0 ] ||
	echo "integration: not repeated sanitized (the plain make test runs them): ${unsanitized[*]}"
echo "integration: $passed passed, $failed failed ($lanes lanes)"
[ "$failed" -eq 0 ]
