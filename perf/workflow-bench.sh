#!/usr/bin/env bash
# make perf-workflows: what a workflow step costs next to a plain task, in
# one run against one engine on TAP (tw-workflow-bench, libtaskwire):
# 100,000 plain noop tasks; the same number of steps as chains of 10 and
# of 30 (their difference is a step's cost in the engine, without the
# publisher's per-chain cost); a chord of 100,000 noop members with one
# callback. Writes
# perf/results/workflows.md. Stops everything it started.
set -euo pipefail
. "$(dirname "$0")/../deploy/lib.sh"
out=$TW_ROOT/perf/results/workflows.md
mkdir -p "$(dirname "$out")"

tw_engine_start perfwf || exit 1
trap 'tw_engine_stop "$TW_BUILD/run/perfwf"' EXIT
. "$TW_BUILD/run/perfwf/engine.env"
"$TW_BUILD/twctl" --socket "$TW_SOCKET" queue declare bench >/dev/null
table=$(ip netns exec "$TW_NETNS" "$TW_BUILD/tw-workflow-bench" --engine "$TW_ENGINE" --queue bench \
	--count "${TW_WF_COUNT:-100000}" --length 10 --window 4096 --markdown)
{
	echo "# Workflow step cost ($(date -u +%Y-%m-%dT%H:%MZ), \`make perf-workflows\`)"
	echo
	echo "Engine on TAP in a namespace (make up's engine), publisher tw-workflow-bench"
	echo "(libtaskwire, kernel UDP), all three runs in one process against one engine."
	echo "Timed from the first publish to the last result."
	echo
	echo "$table"
} | tee "$out"
