#!/usr/bin/env bash
# What publishers can make tw-control hold, through the real binaries:
#  1. delayed tasks: with --sched-max-per-publisher 15 and --sched-max 40,
#     publisher A's 16th countdown task is NACKed no-resources, publisher B
#     (another source address) is still taken, and publisher C is refused
#     once the total reaches 40; twctl status shows the caps, sched_full,
#     the publishers at their cap, and nack_sched_full counts the NACKs;
#     retiring A's tasks (revoke) lifts A's refusal;
#  2. result_expires: a task asking to keep its result for 10 years is
#     kept --result-expires-max (counted);
#  3. the store stays within its map: with --store-size 1 (MiB) results
#     beyond it are refused and counted, twctl status says store_full and
#     how much of the map is used, and tw-control keeps serving.
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
py=/usr/bin/python3
status_json() { twctl status --json; }
field() { # section name
	status_json | $py -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]].get(sys.argv[2], 0))' "$1" "$2"
}
restart_control() { # extra tw-control options
	tw_stop_pid "$TW_CTL_PID" || fail "tw-control did not stop"
	tw_control_spawn "$TW_DIR" "$TW_PREFIX" "$TW_DIR/control.log" "$@"
	TW_CTL_PID=$!
	sed -i "s/^TW_CTL_PID=.*/TW_CTL_PID=$TW_CTL_PID/" "$TW_DIR/engine.env"
	tw_wait_for_line "$TW_DIR/control.log" "tw-control: ready" "$TW_CTL_PID" 30 ||
		fail "tw-control restart: $(cat "$TW_DIR/control.log")"
}
# burst N [publish options]: N countdown tasks; prints "ACKS NACKS"
burst() {
	local n=$1 i a=0 k=0 out; shift
	for i in $(seq 1 "$n"); do
		out=$(publish "" caps noop --countdown 600 "$@" 2>&1 || true)
		case $out in
		*" ACK"*) a=$((a + 1)) ;;
		*"NACK no-resources"*) k=$((k + 1)) ;;
		*) fail "publish: $out" ;;
		esac
	done
	echo "$a $k"
}
# the source address the namespace's publishers use: SRC or back to the first
use_source() {
	tw_in_ns ip route replace "${TW_ENGINE%:*}/32" dev "$ifc" src "$1"
}

restart_control --sched-max 40 --sched-max-per-publisher 15 --result-expires-max 60
twctl queue declare caps >/dev/null || fail "declare"
ifc=$(tw_in_ns ip -4 -o addr show | awk '$2 != "lo" { print $2; exit }')
base=$(tw_in_ns ip -4 -o addr show dev "$ifc" | awk '{ split($4, a, "/"); print a[1]; exit }')
net=${base%.*}
tw_in_ns ip addr add "$net.203/24" dev "$ifc"
tw_in_ns ip addr add "$net.204/24" dev "$ifc"

# 1. delayed tasks
use_source "$base"
read -r a k < <(burst 20)
echo "publisher A ($base): $a taken, $k NACKed no-resources"
[ "$a" -ge 15 ] && [ "$a" -le 17 ] || fail "publisher A: $a taken of 20 with a cap of 15"
[ $((a + k)) -eq 20 ] || fail "publisher A: $a + $k"
use_source "$net.203"
read -r b kb < <(burst 15)
echo "publisher B ($net.203): $b taken, $kb NACKed"
[ "$b" -eq 15 ] || fail "publisher B refused while A was at its cap ($b taken)"
use_source "$net.204"
read -r c kc < <(burst 15)
held=$(field control sched_held)
echo "publisher C ($net.204): $c taken, $kc NACKed; held $held"
[ $((a + b + c)) -ge 40 ] && [ $((a + b + c)) -le 43 ] || fail "total held past the cap: $((a + b + c))"
[ "$kc" -ge 1 ] || fail "publisher C never refused at the total cap"
[ "$held" -eq $((a + b + c)) ] || fail "held $held, taken $((a + b + c))"
[ "$(field control sched_full)" -eq 1 ] || fail "sched_full not shown"
[ "$(field control sched_max)" -eq 40 ] || fail "sched_max"
[ "$(field control sched_max_per_publisher)" -eq 15 ] || fail "sched_max_per_publisher"
atcap=$(field control sched_publishers_at_cap)
[ "$atcap" -ge 2 ] || fail "publishers at cap: $atcap"
nacks=$(field counters nack_sched_full)
[ "$nacks" -eq $((k + kb + kc)) ] || fail "nack_sched_full $nacks, NACKs seen $((k + kb + kc))"
echo "ok: per-publisher and total caps NACK no-resources, counted ($nacks) and shown"
# retiring held tasks (revoke makes them due now: they leave the scheduler)
twctl --json list tasks | $py -c '
import json, sys
held = [t["task_id"] for t in json.load(sys.stdin) if t["eta_ms"] != 0]
print("\n".join(held[:20]))' | while read -r id; do twctl revoke "$id" >/dev/null || true; done
for _ in $(seq 1 50); do
	[ "$(field control sched_full)" -eq 0 ] && break
	sleep 0.1
done
[ "$(field control sched_full)" -eq 0 ] || fail "sched_full stays after tasks left ($(field control sched_held) held)"
use_source "$base"
read -r a2 k2 < <(burst 1)
[ "$a2" -eq 1 ] || fail "a publisher stays refused after its tasks left"
echo "ok: the refusal lifts when held tasks leave"

# 2. result_expires capped
out=$(publish "" caps echo '"x"' --result-expires 3650d --wait 10 2>&1) || fail "publish: $out"
[ "$(field control result_expires_capped)" -ge 1 ] || fail "result_expires not capped"
[ "$(field control result_expires_max_s)" -eq 60 ] || fail "result_expires_max_s"
echo "ok: result_expires above --result-expires-max is cut to it (counted)"

# 3. a store of 1 MiB
restart_control --store-size 1
twctl queue declare fill >/dev/null || fail "declare fill"
args=$($py -c 'print("[\"" + "y" * 1000 + "\"]")')
tw_in_ns "$TW_BUILD/tw-publish-bench" --engine "$TW_ENGINE" --queue fill --task echo \
	--args "$args" --count 3000 --window 64 --json >"$TW_DIR/fill.json" || fail "bench: $(cat "$TW_DIR/fill.json")"
sleep 1
used=$(field control store_used_bytes); size=$(field control store_map_bytes)
refused=$(field control store_full_refused); kept=$(field control store_results)
echo "store: $kept results kept, $refused refused, $used of $size bytes used, store_full $(field control store_full)"
[ "$size" -eq 1048576 ] || fail "map size $size"
[ "$used" -le "$size" ] || fail "used above the map"
[ "$refused" -ge 1 ] || fail "nothing refused by a full store"
[ "$(field control store_full)" -eq 1 ] || fail "store_full not shown"
twctl status >/dev/null || fail "tw-control stopped serving"
echo "ok: a full store refuses new results, counts them and says so"
