#!/usr/bin/env bash
# runs alone: it compares the rate before and after the overload (run.sh)
# Overload through the real binaries (run by run.sh in an engine's
# environment): a load far above what the engine can run, for 30 s
# (TW_OVERLOAD_S), then recovery.
#  - capacity is made small on purpose: every task is sleep_us [50] (at
#    most ~20,000 tasks/s on a worker lcore) into a queue of 64 (frames of
#    32 tasks overflow it at once);
#  - a closed-loop publisher with 20,000 tasks outstanding offers as fast
#    as confirms come back (NACKs return at once: tens of thousands a
#    second);
#  - every task is accounted for: ACKed and then answered, or NACKed
#    queue-full; none lost (tw-publish-bench: lost 0, unknown 0);
#  - memory stays bounded: tw-dataplane's RSS and the mbuf and task-
#    descriptor pools are sampled every second and printed; the pools
#    never run dry and RSS does not grow past its start plus a margin;
#  - afterwards the engine runs plain noop tasks at the rate it had before.
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
field() { grep -o "\"$1\": [0-9.]*" "$2" | awk '{ print $2 }'; }
# pool figures: "mbufs": {"free": F, "total": T} (and "tasks" likewise)
pool() { twctl status --json | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1']['$2'])"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$TW_DP_PID/status"; }
S=${TW_OVERLOAD_S:-30}
bench() { ip netns exec "$TW_NETNS" "$TW_BUILD/tw-publish-bench" --engine "$TW_ENGINE" "$@"; }

twctl queue declare ol --max-length 64 >/dev/null
twctl queue declare fast >/dev/null
bench --queue fast --task noop --count 100000 --window 2048 --json >"$TW_DIR/before.json" ||
	fail "baseline run: $(cat "$TW_DIR/before.json")"
rss0=$(rss_kb)
mbufs_total=$(pool mbufs total)
tasks_total=$(pool tasks total)

bench --queue ol --task sleep_us --args '[50]' --count 10000000 --window 20000 \
	--duration "$S" --drain 30 --json >"$TW_DIR/over.json" 2>"$TW_DIR/over.err" &
pub=$!
peak_rss=$rss0 min_mbufs=$mbufs_total min_tasks=$tasks_total samples=0
while kill -0 "$pub" 2>/dev/null; do
	r=$(rss_kb); m=$(pool mbufs free); t=$(pool tasks free)
	[ "$r" -gt "$peak_rss" ] && peak_rss=$r
	[ "$m" -lt "$min_mbufs" ] && min_mbufs=$m
	[ "$t" -lt "$min_tasks" ] && min_tasks=$t
	samples=$((samples + 1))
	sleep 1
done
rc=0; wait "$pub" || rc=$?
sent=$(field sent "$TW_DIR/over.json")
acked=$(field acked "$TW_DIR/over.json")
nacked=$(field nacked "$TW_DIR/over.json")
qfull=$(field queue_full "$TW_DIR/over.json")
results=$(field results "$TW_DIR/over.json")
lost=$(field lost "$TW_DIR/over.json")
echo "overload ${S} s: offered $sent, ACKed $acked (answered $results), NACKed $nacked" \
	"(queue-full $qfull), lost $lost; peak RSS $peak_rss kB (start $rss0 kB);" \
	"fewest free mbufs $min_mbufs of $mbufs_total, task descriptors $min_tasks of $tasks_total;" \
	"$samples samples"
# the run "fails" only for its NACKs: those are the point here
[ "$lost" -eq 0 ] || fail "tasks without a confirm or a result: $lost ($(cat "$TW_DIR/over.json"))"
[ "$((acked + nacked))" -eq "$sent" ] || fail "confirms: $acked + $nacked != $sent"
[ "$results" -eq "$((sent - nacked))" ] || fail "results $results for $acked ACKed"
[ "$nacked" -eq "$qfull" ] || fail "NACKs other than queue-full: $(cat "$TW_DIR/over.json")"
[ "$qfull" -gt "$acked" ] || fail "not overloaded: $acked ACKed, $qfull NACKed"
[ "$min_mbufs" -gt 0 ] && [ "$min_tasks" -gt 0 ] || fail "a pool ran dry"
[ "$peak_rss" -le $((rss0 + 65536)) ] || fail "RSS grew from $rss0 kB to $peak_rss kB"
[ "$rc" -eq 1 ] || [ "$rc" -eq 0 ] || fail "publisher exit $rc: $(cat "$TW_DIR/over.err")"

# recovery: the same plain run as before, at a comparable rate
bench --queue fast --task noop --count 100000 --window 2048 --json >"$TW_DIR/after.json" ||
	fail "run after the overload: $(cat "$TW_DIR/after.json")"
b=$(field tasks_per_sec "$TW_DIR/before.json")
a=$(field tasks_per_sec "$TW_DIR/after.json")
awk -v a="$a" -v b="$b" 'BEGIN { exit !(a >= 0.5 * b) }' ||
	fail "did not recover: $a tasks/s after, $b before"
echo "ok: overload accounted for (lost 0), memory bounded, recovered: $a tasks/s after, $b before"
