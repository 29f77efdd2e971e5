#!/usr/bin/env bash
# DPDK telemetry through the real tool: dpdk-telemetry.py (Debian's
# dpdk package) reads /taskwire/stats, /taskwire/lcores and
# /taskwire/queues from the running tw-dataplane, and they agree with
# what was published and with `twctl status`.
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
tel() { echo "$1" | /usr/bin/python3 /usr/bin/dpdk-telemetry.py -f "$TW_PREFIX" 2>&1; }

"$TW_BUILD/twctl" --socket "$TW_SOCKET" queue declare telq >/dev/null
for i in 1 2 3 4 5; do
	tw_in_ns "$TW_BUILD/twctl" --socket "$TW_SOCKET" --engine "$TW_ENGINE" publish '' telq add "[$i,1]" --wait 5 |
		grep -q SUCCESS || fail "publish $i"
done

out=$(tel /taskwire/queues)
echo "$out" | grep -q '"telq"' || fail "no queue in /taskwire/queues: $out"
echo "$out" | tr -d ' \n' | grep -q '"telq":{"ready":0,"published":5,"delivered":5,"rejected":0}' ||
	fail "queue figures: $out"

out=$(tel /taskwire/stats)
executed=$(echo "$out" | tr -d ' \n' | grep -o '"tasks_executed":[0-9]*' | cut -d: -f2)
[ "${executed:-0}" -ge 5 ] || fail "tasks_executed in /taskwire/stats: $out"
status=$("$TW_BUILD/twctl" --socket "$TW_SOCKET" status --json | tr -d ' \n' |
	grep -o '"counters":{"rx_packets[^}]*' | tail -1 | grep -o '"tasks_executed":[0-9]*' | cut -d: -f2)
[ "$executed" = "$status" ] || fail "telemetry says $executed tasks, twctl status says $status"

out=$(tel /taskwire/lcores)
echo "$out" | grep -q '"busy_permille"' || fail "no busy share in /taskwire/lcores: $out"
echo "$out" | grep -q '"role": "main"' || fail "no plan in /taskwire/lcores: $out"
echo "ok: /taskwire/stats, /taskwire/lcores, /taskwire/queues"
