#!/usr/bin/env bash
# Prometheus endpoint of tw-control through a real HTTP request (bash's
# /dev/tcp, no client needed): text format, engine counters, drops by
# reason, per-lcore busy ratio, per-queue figures that move with traffic,
# 404 elsewhere.
# engine options: --solo-max-us 2000
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
. "$TW_DIR/engine.env"
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

# per exchange (published, routed, unroutable) and per queue NACKs by
# reason and dead-lettered tasks
twctl exchange declare mx direct >/dev/null
twctl queue declare mq --max-length 1 --dead-letter-exchange mx \
	--dead-letter-routing-key dead >/dev/null
twctl queue declare mdead >/dev/null
twctl bind mx mq work >/dev/null
twctl bind mx mdead dead >/dev/null
publish mx work noop >/dev/null              # routed
publish mx nowhere noop >/dev/null || true   # unroutable: NACK
publish mx nowhere noop >/dev/null || true
[ "$(metric 'taskwire_exchange_published_total{exchange="mx"}')" -ge 3 ] ||
	fail "exchange published: $(get /metrics | grep 'exchange="mx"')"
[ "$(metric 'taskwire_exchange_unroutable_total{exchange="mx"}')" -eq 2 ] || fail "exchange unroutable"
[ "$(metric 'taskwire_exchange_routed_total{exchange="mx"}')" -ge 1 ] || fail "exchange routed"
[ "$(metric 'taskwire_exchange_published_total{exchange=""}')" -ge 3 ] ||
	fail "default exchange: $(get /metrics | grep 'exchange=""')"
twctl --json list exchanges | /usr/bin/python3 -c '
import json, sys
x = {e["name"]: e for e in json.load(sys.stdin)}
assert x["mx"]["unroutable"] == 2 and x["mx"]["routed"] >= 1, x["mx"]
assert x["mx"]["published"] == x["mx"]["routed"] + x["mx"]["unroutable"], x["mx"]
' || fail "twctl list exchanges: $(twctl list exchanges)"
# mq holds one task: publishes while a worker sleeps may be NACKed
# queue-full, counted on mq
full=0
for i in $(seq 1 50); do
	publish mx work sleep_us '[2000]' >/dev/null 2>&1 || { full=1; break; }
done
nacked=$(metric 'taskwire_queue_nacked_total{queue="mq",reason="queue-full"}')
[ "$full" -eq 0 ] || [ "$nacked" -ge 1 ] || fail "queue-full NACK not counted per queue"
[ "$(metric 'taskwire_queue_nacked_total{queue="mq",reason="no-resources"}')" = 0 ] ||
	fail "no-resources NACKs per queue"
# a task out of retries is dead-lettered out of mq: counted there
publish mx work fail --max-retries 1 --autoretry --wait 5 >/dev/null 2>&1 || true
for i in $(seq 1 50); do
	[ "$(metric 'taskwire_queue_dead_lettered_total{queue="mq"}')" -ge 1 ] && break
	sleep 0.1
done
[ "$(metric 'taskwire_queue_dead_lettered_total{queue="mq"}')" -ge 1 ] ||
	fail "dead-lettered per queue: $(get /metrics | grep 'queue="mq"')"
echo "ok: per exchange and per-queue NACK and dead-letter figures"
get /nothing | head -1 | grep -q 404 || fail "no 404 for another path"
echo "ok: /metrics"
