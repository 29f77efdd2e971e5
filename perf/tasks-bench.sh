#!/usr/bin/env bash
# make perf-tasks: figures of the task machinery, on an engine on TAP with a
# kernel-UDP publisher (tw-publish-bench, libtaskwire):
#  1. scheduler lateness: 50,000 tasks with countdowns spread over 0..2 s;
#     tw-control's lateness at injection (actual - due) and the publisher's
#     (result arrival - due), p50/p99/max;
#  2. result-store write rate: 1,000,000 noop tasks whose results are all
#     kept; records tw-control wrote per second, and records lost.
# Writes perf/results/tasks.md. Stops everything it started.
set -euo pipefail
. "$(dirname "$0")/../deploy/lib.sh"
out=$TW_ROOT/perf/results/tasks.md
mkdir -p "$(dirname "$out")"

tw_engine_start perftasks || exit 1
trap 'tw_engine_stop "$TW_BUILD/run/perftasks"' EXIT
. "$TW_BUILD/run/perftasks/engine.env"
twctl() { "$TW_BUILD/twctl" --socket "$TW_SOCKET" "$@"; }
ctl() { twctl status --json | tr -d ' \n' | grep -o "\"$1\":[0-9]*" | tail -1 | cut -d: -f2; }
twctl queue declare bench >/dev/null

# 1. lateness
late=$(ip netns exec "$TW_NETNS" "$TW_BUILD/tw-publish-bench" --engine "$TW_ENGINE" --queue bench \
	--task noop --count 50000 --window 12000 --countdown-spread 2000 --drain 10 --json)
echo "lateness run: $late"
field() { grep -o "\"$1\": [0-9.]*" <<<"$2" | awk '{ print $2 }'; }

# 2. store write rate (results kept: no ignore_result)
w0=$(ctl store_records_written)
l0=$(ctl records_lost)
t0=$(date +%s%N)
rate=$(ip netns exec "$TW_NETNS" "$TW_BUILD/tw-publish-bench" --engine "$TW_ENGINE" --queue bench \
	--task noop --count 1000000 --window 4096 --json)
# the collector drains what the lcores handed over
for ((i = 0; i < 50; i++)); do
	[ "$(ctl store_records_written)" -ge $((w0 + 1000000 - $(ctl records_lost) + l0)) ] && break
	sleep 0.1
done
t1=$(date +%s%N)
written=$(($(ctl store_records_written) - w0))
lost=$(($(ctl records_lost) - l0))
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
{
	echo "# Task machinery ($(date -u +%Y-%m-%dT%H:%MZ), \`make perf-tasks\`)"
	echo
	echo "Engine on TAP in a namespace, publisher tw-publish-bench (libtaskwire, kernel UDP)."
	echo
	echo "## Scheduler lateness (50,000 tasks, countdowns spread over 0..2 s, at most 12,000 pending)"
	echo
	echo "| measured at | p50 | p99 | max |"
	echo "| --- | ---: | ---: | ---: |"
	echo "| tw-control injection (actual - due), us, log2 buckets | $(ctl sched_late_p50_us) | $(ctl sched_late_p99_us) | $(ctl sched_late_max_us) |"
	echo "| publisher: result arrival - due, us | $(field late_p50_us "$late") | $(field late_p99_us "$late") | $(field late_max_us "$late") |"
	echo
	echo "Tasks held at the peak: $(ctl sched_taken) taken, $(ctl sched_injected) injected, $(ctl sched_inject_retries) injection retries (inject ring full)."
	echo
	echo "## Result-store write rate (1,000,000 noop results kept)"
	echo
	echo "| records written | lost | seconds (publish to last write) | records/s |"
	echo "| ---: | ---: | ---: | ---: |"
	echo "| $written | $lost | $secs | $(awk -v n="$written" -v s="$secs" 'BEGIN { printf "%.0f", n / s }') |"
	echo
	echo "Publisher: $(field tasks_per_sec "$rate") tasks/s end to end, lost $(field lost "$rate")."
} | tee "$out"
