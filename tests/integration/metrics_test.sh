#!/usr/bin/env bash
# Prometheus endpoint of tw-control through a real HTTP request (bash's
# /dev/tcp, no client needed): text format, engine counters, drops by
# reason, per-lcore busy ratio, per-queue figures that move with traffic,
# 404 elsewhere.
set -euo pipefail
. "$(dirname "$0")/../../deploy/lib.sh"
. "$TW_DIR/engine.env"
fail() { echo "FAIL: $*"; exit 1; }
get() { # path -> whole HTTP response
	local host=${TW_METRICS%:*} port=${TW_METRICS##*:}
	exec 3<>"/dev/tcp/$host/$port"
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$1" "$host" >&3
	cat <&3
	exec 3<&-
}
metric() { get /metrics | tr -d '\r' | M="$1" awk '$1 == ENVIRON["M"] { print $2 }'; }

[ -n "${TW_METRICS:-}" ] || fail "tw-control printed no metrics address"
out=$(get /metrics | tr -d '\r')
echo "$out" | head -1 | grep -q "200 OK" || fail "status line: $(echo "$out" | head -1)"
echo "$out" | grep -qi "^Content-Type: text/plain; version=0.0.4" || fail "content type"
for m in "# TYPE taskwire_tasks_received_total counter" 'taskwire_dropped_packets_total{reason="not_taskwire"}' \
	"# TYPE taskwire_lcore_busy_ratio gauge" 'taskwire_lcore_busy_ratio{lcore="1"'; do
	echo "$out" | grep -qF "$m" || fail "missing: $m"
done

"$TW_BUILD/twctl" --socket "$TW_SOCKET" queue declare 'metrics"q' >/dev/null
before=$(metric taskwire_tasks_executed_total)
noop_before=$(metric 'taskwire_task_succeeded_total{task="noop"}')
runs_before=$(metric 'taskwire_task_runtime_seconds_count{task="noop"}')
for i in 1 2 3; do
	tw_in_ns "$TW_BUILD/twctl" --socket "$TW_SOCKET" --engine "$TW_ENGINE" publish '' 'metrics"q' noop --wait 5 |
		grep -q SUCCESS || fail "publish $i"
done
after=$(metric taskwire_tasks_executed_total)
[ "$after" -eq $((before + 3)) ] || fail "tasks_executed went $before -> $after"
[ "$(metric 'taskwire_queue_published_total{queue="metrics\"q"}')" = 3 ] || fail "queue label or value: $(get /metrics | grep metrics)"
# per task name, a runtime histogram, burst sizes, store and queue gauges
[ "$(metric 'taskwire_task_succeeded_total{task="noop"}')" -eq $((noop_before + 3)) ] || fail "per-task succeeded"
[ "$(metric 'taskwire_task_runtime_seconds_count{task="noop"}')" -eq $((runs_before + 3)) ] || fail "runtime histogram count"
inf=$(metric 'taskwire_task_runtime_seconds_bucket{task="noop",le="+Inf"}')
[ "$inf" -eq $((runs_before + 3)) ] || fail "runtime histogram +Inf bucket $inf"
out=$(get /metrics | tr -d '\r')
for m in "# TYPE taskwire_task_runtime_seconds histogram" 'taskwire_lcore_rx_burst_size_bucket{lcore="1",le="1"}' \
	"# TYPE taskwire_result_store_records gauge" 'taskwire_queue_workers{queue="metrics\"q"} 1' \
	"taskwire_scheduled_tasks 0"; do
	echo "$out" | grep -qF "$m" || fail "missing: $m"
done
[ "$(metric taskwire_result_store_records)" -ge 3 ] || fail "result store size"
get /nothing | head -1 | grep -q 404 || fail "no 404 for another path"
echo "ok: /metrics"
