#!/usr/bin/env bash
# Faults through the real binaries (run by run.sh in an engine's
# environment): kill -9 of tw-control under load.
#  - the data plane keeps routing and running tasks: a closed-loop
#    publisher gets every confirm and every result while tw-control is
#    dead (tw-publish-bench exits 0);
#  - a restarted tw-control re-attaches and drains what the lcores kept
#    for it meanwhile (the records rings: TW_RECORDS_RING frames per
#    polling lcore); results beyond that are counted (records_lost), never
#    silently gone: stored + counted lost = every result, but for the few
#    the killed tw-control had taken from the rings and not yet written
#    (at most one drain burst: 32 record frames per polling lcore);
#  - the data plane's counters and the routing table survive the restart;
#  - a solo task that holds its lcore (sleep_us for 4 s): `twctl status`
#    reports the lcore HUNG, naming the task, while tw-control keeps
#    answering; once it returns, the lcore runs tasks again, and the
#    overrun is counted (solo_overruns).
# engine options: --solo-max-us 4000000
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
. "$TW_DIR/engine.env"
metric() {
	local host=${TW_METRICS%:*} port=${TW_METRICS##*:}
	exec 3<>"/dev/tcp/$host/$port"
	printf 'GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n' >&3
	tr -d '\r' <&3 | M="$1" awk '$1 == ENVIRON["M"] { print $2 }'
	exec 3<&-
}
N=${TW_FAULT_TASKS:-150000}

# One round: publish n tasks, kill -9 tw-control after 0.4 s, restart it
# after down_ms, check the publisher got everything and every result is
# stored or counted lost. Sets stored, lost, uncounted.
round() {
	local n=$1 down_s=$2 stored0 lost0 bench ctl killed_at back_at pollers bound
	stored0=$(metric taskwire_result_store_records)
	lost0=$(counter records_lost)
	ip netns exec "$TW_NETNS" "$TW_BUILD/tw-publish-bench" --engine "$TW_ENGINE" --queue faults \
		--task noop --count "$n" --window 2048 --json >"$TW_DIR/bench.json" 2>"$TW_DIR/bench.err" &
	bench=$!
	sleep 0.4
	kill -KILL "$TW_CTL_PID"
	killed_at=$(date +%s%3N)
	# tw-control is dead: the publisher keeps getting confirms and results
	sleep "$down_s"
	tw_control_spawn "$TW_DIR" "$TW_PREFIX" "$TW_DIR/control2.log"
	ctl=$!
	sed -i "s/^TW_CTL_PID=.*/TW_CTL_PID=$ctl/" "$TW_DIR/engine.env"
	TW_CTL_PID=$ctl
	tw_wait_for_line "$TW_DIR/control2.log" "tw-control: ready" "$ctl" 30 ||
		fail "tw-control restart: $(cat "$TW_DIR/control2.log")"
	# its new HTTP address (port 0: a new one)
	TW_METRICS=$(sed -n 's|^tw-control: metrics on http://\([^/]*\)/metrics$|\1|p' "$TW_DIR/control2.log")
	back_at=$(date +%s%3N)
	wait "$bench" ||
		fail "the publisher lost tasks while tw-control was dead: $(cat "$TW_DIR/bench.err" "$TW_DIR/bench.json")"
	grep -q "\"acked\": $n" "$TW_DIR/bench.json" || fail "acks: $(cat "$TW_DIR/bench.json")"
	grep -q "\"succeeded\": $n" "$TW_DIR/bench.json" || fail "results: $(cat "$TW_DIR/bench.json")"
	twctl list queues | grep -q faults || fail "the queue is gone after the restart"
	# every result stored or counted lost, but for one drain burst in flight
	for ((i = 0; i < 100; i++)); do
		stored=$(($(metric taskwire_result_store_records) - stored0))
		lost=$(($(counter records_lost) - lost0))
		[ $((stored + lost)) -ge "$n" ] && break
		sleep 0.1
	done
	pollers=$(twctl status --json | tr -d ' \n' | grep -o '"role":"[a-z+]*"' | grep -vc main || true)
	bound=$((32 * 100 * ${pollers:-1}))
	uncounted=$((n - stored - lost))
	[ "$uncounted" -le "$bound" ] ||
		fail "$uncounted results neither stored nor counted (stored $stored, counted lost $lost, bound $bound)"
	[ "$uncounted" -ge 0 ] || uncounted=0
	echo "ok: kill -9 of tw-control under load: $n tasks all confirmed and answered;" \
		"tw-control down $((back_at - killed_at)) ms; results stored $stored, counted lost $lost," \
		"in flight at the kill $uncounted (bound $bound)"
}

twctl queue declare faults >/dev/null
# 1. a short outage under a load the rings can hold (30,000 results, under
#    TW_RECORDS_RING frames): every result reaches the next tw-control
round 30000 1.5
[ "$lost" -eq 0 ] || fail "results lost in a short outage: $lost"
# 2. a longer one under more load: the rings fill, the rest is counted
round $((4 * N)) 4
[ "$lost" -gt 0 ] || fail "no result counted lost: the rings cannot have held $((4 * N))"

# 3. a task that holds its lcore
# (in the background: on a run-to-completion lcore its confirm leaves only
# after the pass, that is after the task)
tw_in_ns "$TW_BUILD/twctl" --socket "$TW_SOCKET" --engine "$TW_ENGINE" publish '' faults \
	sleep_us '[4000000]' --wait 10 >"$TW_DIR/hung.txt" &
hpub=$!
overruns=$(counter solo_overruns)
# long enough for a (sanitized, slow to start) publisher to get it running for a second
sleep 2.5
out=$(twctl status)
grep -q "HUNG     lcore [0-9]* has run task [0-9a-f]* (sleep_us) for [0-9]* ms" <<<"$out" ||
	fail "no hung lcore in status: $out"
twctl status --json | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
hung = [l for l in s["lcores"] if l["hung"]]
assert len(hung) == 1 and hung[0]["running_name"] == "sleep_us" and hung[0]["running_ms"] > 1000, hung
' || fail "hung lcore in status --json"
wait "$hpub" || fail "the long task: $(cat "$TW_DIR/hung.txt")"
hid=$(awk '{print $2}' "$TW_DIR/hung.txt")
grep -q "task $hid" <<<"$out" || fail "status named another task than $hid: $out"
out=$(tw_in_ns "$TW_BUILD/twctl" --socket "$TW_SOCKET" --engine "$TW_ENGINE" publish '' faults \
	add '[1,1]' --wait 10) || fail "after the hung task: $out"
grep -q "SUCCESS 2" <<<"$out" || fail "after the hung task: $out"
twctl status | grep -q HUNG && fail "still hung after the task returned"
[ "$(counter solo_overruns)" -ge $((overruns + 1)) ] || fail "the overrun was not counted"
echo "ok: a task holding its lcore is reported HUNG (named, with its time) and the lcore goes on after it"
