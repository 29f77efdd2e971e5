#!/usr/bin/env bash
# make run: start an engine on a TAP device in a private namespace, declare
# a queue, publish 200k noop tasks and a few add tasks through libtaskwire
# (tw-publish-bench), print a report, stop and remove everything.
#   TW_DEMO_COUNT  noop tasks (default 200000)
set -uo pipefail
. "$(dirname "$0")/lib.sh"

count=${TW_DEMO_COUNT:-200000}
dir=
cleanup() { [ -n "$dir" ] && tw_engine_stop "$dir"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

tw_engine_start demo || exit 1
dir=$TW_DIR
# shellcheck disable=SC1091
. "$dir/engine.env"
twctl() { "$TW_BUILD/twctl" --socket "$TW_SOCKET" "$@"; }

twctl queue declare demo >/dev/null || exit 1
echo "taskwire demo: engine $TW_ENGINE in namespace $TW_NETNS; publishing $count noop + 100 add tasks"
tw_in_ns "$TW_BUILD/tw-publish-bench" --engine "$TW_ENGINE" --queue demo --task noop \
	--count "$count" --window 4096 --add 100 >"$dir/bench.txt" 2>&1
bench_rc=$?

echo
echo "==================== taskwire make run report ===================="
grep -A3 "lcore plan" "$dir/dataplane.log"
echo
echo "workload: one publisher process (libtaskwire, kernel UDP over TAP), window 4096"
cat "$dir/bench.txt"

echo
twctl list queues
echo
twctl status
echo "=================================================================="
[ $bench_rc -eq 0 ] || echo "make run: the demo workload failed (see above)"
trap - EXIT
tw_engine_stop "$dir" || exit 1
bash "$TW_ROOT/tests/check-clean.sh" >/dev/null || { echo "make run: something was left behind"; exit 1; }
echo "make run: engine stopped, namespace and hugepage files removed"
exit $bench_rc
