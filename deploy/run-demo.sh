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
	--count "$count" --window 4096 --add 100 --json >"$dir/bench.json" 2>"$dir/bench.err"
bench_rc=$?

echo
echo "==================== taskwire make run report ===================="
grep -A3 "lcore plan" "$dir/dataplane.log"
echo
/usr/bin/env python3 - "$dir/bench.json" <<'PY' || cat "$dir/bench.json"
import json, sys
r = json.load(open(sys.argv[1]))
print(f"tasks         {r['sent']} sent, {r['acked']} acked, {r['nacked']} nacked, "
      f"{r['succeeded']} succeeded, {r['failed']} failed, {r['lost']} lost")
print(f"throughput    {r['tasks_per_sec']:,.0f} tasks/s end to end ({r['seconds']:.2f} s, "
      f"one publisher process, kernel UDP over TAP)")
print(f"confirm       p50 {r['confirm_p50_us']:.1f} us   p99 {r['confirm_p99_us']:.1f} us")
print(f"result        p50 {r['result_p50_us']:.1f} us   p99 {r['result_p99_us']:.1f} us")
PY
grep "add:" "$dir/bench.err" || true
echo
twctl list queues
echo
twctl status
echo "=================================================================="
[ $bench_rc -eq 0 ] || { echo "make run: the demo workload failed:"; cat "$dir/bench.err"; }
trap - EXIT
tw_engine_stop "$dir" || exit 1
bash "$TW_ROOT/tests/check-clean.sh" >/dev/null || { echo "make run: something was left behind"; exit 1; }
echo "make run: engine stopped, namespace and hugepage files removed"
exit $bench_rc
