#!/usr/bin/env bash
# `twctl stats`: rates over an interval while load runs (tasks executed
# per second above zero, the queue's publish rate, the lcore's busy
# share), and --watch --count redraws the given number of times.
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"

twctl queue declare statq >/dev/null
# `ip netns exec` execs the bench, so $! is the bench itself and the kill
# below reaches it (through a shell function it would only kill a subshell)
ip netns exec "$TW_NETNS" "$TW_BUILD/tw-publish-bench" --engine "$TW_ENGINE" --queue statq \
	--count 3000000 --window 1024 >/dev/null 2>&1 &
load=$!
sleep 0.5
out=$(twctl stats --count 1)
tw_stop_pid "$load" || true
rate=$(echo "$out" | awk '$1 == "tasks_executed" { print $2 }')
[ "${rate:-0}" -gt 1000 ] || fail "tasks_executed/s under load: '$rate' in:
$out"
echo "$out" | awk '$1 == "statq" { exit !($4 > 1000) }' || fail "statq publish/s: $out"
echo "$out" | grep -q "io+worker" || fail "no lcore line: $out"
n=$(twctl stats --watch 0.2 --count 2 | grep -c "^taskwire  pid")
[ "$n" -eq 2 ] || fail "--watch --count 2 drew $n screens"
twctl stats --watch 0 >/dev/null 2>&1 && fail "--watch 0 accepted"
echo "ok: twctl stats ($rate tasks/s)"
