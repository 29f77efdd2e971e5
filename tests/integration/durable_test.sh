#!/usr/bin/env bash
# Durable queues through the real binaries (run by run.sh; it manages an
# engine of its own, started on a data directory and restarted on it).
# Every step asserts exact counts:
#  1. crash: tasks published to a durable queue whose tasks wait (for a
#     consumer that never acks, subscribed without hold), tw-dataplane
#     killed with SIGKILL at a random moment, restarted on the same data
#     directory: every ACKed task is recovered, waits for tw-control, and
#     runs once to a SUCCESS result in its store (lost 0; recovered =
#     ACKed + those whose record was synced but whose ACK had not gone
#     out yet, reported); the
#     exchange, durable queue (its arguments) and binding declared through
#     tw-control come back at the restart, a transient queue does not;
#  2. a torn tail (40 bytes appended) is cut, counted and logged at
#     start; the tasks before it are recovered and run, those whose own
#     deadline or queue TTL passed while the engine was down expire, and
#     tasks that ended before the crash do not run again;
#  2b. kill -9 during recovery (after the compacted copy is written,
#     then between removing the old segments): the next start recovers
#     every task exactly once;
#  3. a record inverted in the middle (valid records after it) stops the
#     start, the file and offset named;
#  4. a retransmit of a durable task before its record is synced is
#     ACKed only after the sync (a 100 ms commit window shows it);
#     a full disk (a 1 MB tmpfs of the test's own): durable tasks NACKed
#     no-resources, counted; a non-durable queue still served; with room
#     again, durable tasks are taken again; kill -9 and restart: exactly
#     the ACKed ones come back;
#  5. tasks due later (eta) are held by tw-control's scheduler, not the
#     journal: an engine crash that tw-control outlives keeps them in its
#     store, the next start (store kept, as make up does) runs them;
#  6. tasks larger than one datagram (sent in fragments) are journaled
#     whole in large records: ACKed, kill -9, all recovered and run.
set -euo pipefail
. "$(dirname "$0")/../../deploy/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
id=dj${TW_IT_TAG:-}
id=${id:0:9}
dir=$TW_BUILD/run/$id
work=$TW_BUILD/run/$id-work
data=$work/data
mnt=$work/full
py=/usr/bin/python3
. "$(dirname "$0")/durable_lib.sh"
cleanup() {
	tw_engine_stop "$dir" >/dev/null 2>&1 || true
	if mountpoint -q "$mnt" 2>/dev/null; then umount "$mnt"; fi
	rm -rf "$work"
}
trap cleanup EXIT
start() { # data-dir [tw-dataplane options]
	local d=$1
	shift
	TW_DATA_DIR=$d tw_engine_start "$id" "$@" || return 1
	# shellcheck disable=SC1091
	. "$dir/engine.env"
}
restart() {
	tw_engine_stop "$dir" >/dev/null 2>&1 || true
	start "$@"
}
# crash: tw-control first (as a power cut would take it too), then the engine
crash() {
	kill -9 "$TW_CTL_PID" "$TW_DP_PID"
	tw_stop_pid "$TW_CTL_PID" || true
	tw_stop_pid "$TW_DP_PID" || true
}
# the Python client's generated protobuf modules, in this build's folder
# (a sanitized suite has no build/python of its own)
bash "$TW_ROOT/clients/python/build.sh" "$TW_BUILD/python" >/dev/null
pub() { tw_in_ns env TW_PYTHON_GEN="$TW_BUILD/python" $py "$here/durable_pub.py" "$@"; }
field() { sed -n "s/^publish:.* $1 \([0-9]*\).*/\1/p" "$2"; }
# the engine run.sh started has no data directory: stopped at once, its
# hugepages are for this test's own engine
[ -z "${TW_DIR:-}" ] || tw_engine_stop "$TW_DIR" >/dev/null 2>&1 || true
rm -rf "$work"
mkdir -p "$work"

# 1
start "$data" || fail "engine on a data directory"
# definitions made through tw-control: the durable ones come back at the
# restart below (dq with its arguments, dx, dx -> dq), tq and its binding not
twctl exchange declare dx topic >/dev/null || fail "exchange declare"
twctl queue declare dq --durable --delivery-limit 50 --dead-letter-exchange dx >/dev/null ||
	fail "durable queue declare"
twctl queue declare tq >/dev/null || fail "transient queue declare"
twctl bind dx dq 'jobs.#' >/dev/null && twctl bind dx tq 'jobs.#' >/dev/null || fail "bind"
twctl list queues --json | $py -c "import json,sys
q=[q for q in json.load(sys.stdin) if q['name']=='dq']
sys.exit(0 if q and q[0]['durable'] else 1)" || fail "list queues does not show dq durable"
pub subscribe "$TW_ENGINE" dq >/dev/null || fail "subscribe"
pub publish "$TW_ENGINE" dq 20000 "$work/acked1.txt" 100000 >"$work/pub1.txt" 2>&1 &
p=$!
# sustained publishing: the kill comes at a random moment after 50 ACKs
for ((i = 0; i < 200; i++)); do
	[ -f "$work/acked1.txt" ] && [ "$(wc -l <"$work/acked1.txt")" -ge 50 ] && break
	tw_nap 0.05
done
tw_nap "0.0$((RANDOM % 10))"
kill -9 "$TW_DP_PID"
wait "$p" || true
kill -9 "$TW_CTL_PID" 2>/dev/null || true
cat "$work/pub1.txt"
acked=$(wc -l <"$work/acked1.txt")
sent=$(field sent "$work/pub1.txt")
[ "$acked" -gt 0 ] || fail "nothing was ACKed before the kill"
restart "$data" || fail "restart on the journal"
twctl definitions export - | $py -c "import json,sys; d=json.load(sys.stdin)
q={q['name']: q for q in d['queues']}
assert set(q) == {'dq'}, q
assert q['dq']['durable'] and q['dq']['arguments'] == {'x-dead-letter-exchange': 'dx',
    'x-delivery-limit': 50}, q['dq']
assert [(x['name'], x['type']) for x in d['exchanges']] == [('dx', 'topic')], d['exchanges']
b=[(b['source'], b['destination'], b['routing_key']) for b in d['bindings']]
assert b == [('dx', 'dq', 'jobs.#')], b" || fail "durable definitions not restored as declared"
grep -q "saved definitions): imported 1 exchanges, 1 queues, 1 bindings" "$dir/dataplane.log" ||
	fail "saved definitions not loaded at start"
grep -q "default arguments) for its recovered tasks" "$dir/dataplane.log" &&
	fail "the queue was made again for its tasks, not restored"
recovered=$(counter journal_recovered)
[ "$recovered" -ge "$acked" ] && [ "$recovered" -le "$sent" ] ||
	fail "recovered $recovered, ACKed $acked, sent $sent"
[ "$(counter journal_recovery_unplaced)" = 0 ] || fail "recovered tasks not placed"
pub check "$TW_SOCKET" "$work/acked1.txt" 60 || fail "ACKed tasks lost"
# each recovered task ran once: the engine ran nothing else since its start
wait_counter journal_recovered_queued "$recovered"
wait_counter tasks_succeeded "$recovered"
wait_counter journal_outstanding 0
[ "$(counter records_lost)" = 0 ] || fail "results of recovered tasks dropped"
echo "ok (${SECONDS}s): kill -9 while publishing: sent $sent, ACKed $acked, recovered $recovered" \
	"($((recovered - acked)) synced before their ACK went out), each ran once, lost 0"
# the restored binding routes
out=$(tw_in_ns "$TW_BUILD/twctl" --socket "$TW_SOCKET" --engine "$TW_ENGINE" publish dx jobs.one noop)
echo "$out" | grep -q ACK || fail "publish through the restored exchange: $out"
wait_counter tasks_succeeded $((recovered + 1))
echo "ok (${SECONDS}s): exchange, durable queue (its arguments) and binding restored at the" \
	"restart, the transient queue and its binding not; the tasks recovered into the queue"

# 2: the journal now holds finished tasks only. 30 more run to their end
# (not to run again), then tasks wait: 50 plain; 10 with a deadline of
# their own and 10 in a queue whose TTL (1.5 s) both pass while the engine
# is down; 10 whose queue TTL (60 s) does not. Then a tail to tear.
s0=$(counter tasks_succeeded)
pub publish "$TW_ENGINE" dq 30 "$work/ran2.txt" 190000 >/dev/null
[ "$(wc -l <"$work/ran2.txt")" = 30 ] || fail "step 2: not all 30 ACKed"
wait_counter tasks_succeeded $((s0 + 30))
wait_counter journal_outstanding 0
twctl queue declare dqt --durable --message-ttl 60000 >/dev/null &&
	twctl queue declare dqs --durable --message-ttl 1500 >/dev/null || fail "TTL queues"
pub subscribe "$TW_ENGINE" dq,dqt,dqs >/dev/null
pub publish "$TW_ENGINE" dq 50 "$work/acked2.txt" 200000 >"$work/pub2.txt"
[ "$(wc -l <"$work/acked2.txt")" = 50 ] || fail "step 2: not all 50 ACKed: $(cat "$work/pub2.txt")"
pub publish "$TW_ENGINE" dqt 10 "$work/live2.txt" 230000 >/dev/null
t_exp=$(date +%s%N)
TW_EXPIRES_MS=1500 pub publish "$TW_ENGINE" dqt 10 "$work/exp2.txt" 210000 >/dev/null
pub publish "$TW_ENGINE" dqs 10 "$work/ttl2.txt" 220000 >/dev/null
cat "$work/exp2.txt" "$work/ttl2.txt" >"$work/expired2.txt"
cat "$work/acked2.txt" "$work/live2.txt" >"$work/run2.txt"
[ "$(wc -l <"$work/expired2.txt")" = 20 ] && [ "$(wc -l <"$work/run2.txt")" = 60 ] ||
	fail "step 2: not all tasks with deadlines ACKed"
crash
seg=$(ls "$data"/*.twj | tail -1)
head -c 40 /dev/urandom >>"$seg"
# the deadlines (1.5 s) pass while the engine is down
while [ $(($(date +%s%N) - t_exp)) -lt 1600000000 ]; do tw_nap 0.1; done
restart "$data" || fail "restart with a torn tail"
[ "$(counter journal_torn_cut)" = 1 ] || fail "torn tail not counted"
[ "$(counter journal_torn_bytes)" = 40 ] || fail "torn bytes $(counter journal_torn_bytes), not 40"
[ "$(counter journal_recovered)" = 80 ] || fail "recovered $(counter journal_recovered), not 80"
grep -q "torn or corrupt tail of segment .* cut at byte" "$dir/dataplane.log" ||
	fail "torn tail not logged"
pub check "$TW_SOCKET" "$work/run2.txt" 60 || fail "tasks before the torn tail lost"
pub check "$TW_SOCKET" "$work/expired2.txt" 30 EXPIRED ||
	fail "tasks whose deadline passed while the engine was down did not expire"
# exactly the recovered ones ran: none of the 30 that had ended
wait_counter tasks_succeeded 60
wait_counter tasks_expired 20
wait_counter journal_outstanding 0
echo "ok (${SECONDS}s): torn tail of 40 bytes cut and counted, the 80 tasks before it recovered:" \
	"60 run, 20 whose own deadline or queue TTL passed while down expired; the 30 ended before not run again"

# 2b: kill -9 during recovery, delivered by strace on entry to a chosen
# system call of the engine's main thread (where recovery runs), so each
# lands where it must: after the compacted copy is written but before it is
# synced, then between removing the old segments
pub subscribe "$TW_ENGINE" dq >/dev/null
pub publish "$TW_ENGINE" dq 50 "$work/acked2b.txt" 250000 >/dev/null
[ "$(wc -l <"$work/acked2b.txt")" = 50 ] || fail "step 2b: not all 50 ACKed"
crash
segs() { (cd "$data" && ls -- *.twj | tr '\n' ' '); }
seghex() { printf '%016x.twj' "$1"; }
before=$(segs)
n1=$((16#$(basename "$(ls "$data"/*.twj | tail -1)" .twj)))
# the compacted copy: its header is synced first, the records second
tw_engine_stop "$dir" >/dev/null 2>&1 || true
TW_DP_WRAP="strace -qq -o /dev/null -P $data/$(seghex $((n1 + 1))) -e trace=fdatasync
	-e inject=fdatasync:signal=SIGKILL:when=2" start "$data" >/dev/null 2>&1 &&
	fail "the engine was not killed while compacting"
[ "$(segs)" = "$before$(seghex $((n1 + 1))) " ] ||
	fail "after a kill while compacting: segments $(segs), before $before"
[ "$(stat -c %s "$data/$(seghex $((n1 + 1)))")" -gt 1000 ] || fail "the compacted copy is not written"
# both copies now: the next recovery removes the old segments; killed before the second
before=$(segs)
TW_DP_WRAP="strace -qq -o /dev/null -P $data -e trace=unlinkat
	-e inject=unlinkat:signal=SIGKILL:when=2" start "$data" >/dev/null 2>&1 &&
	fail "the engine was not killed while removing old segments"
[ "$(segs)" = "${before#* }$(seghex $((n1 + 2))) " ] ||
	fail "after a kill while removing old segments: segments $(segs), before $before"
restart "$data" || fail "restart after kills during recovery"
[ "$(counter journal_recovered)" = 50 ] || fail "recovered $(counter journal_recovered), not 50"
[ "$(counter journal_torn_cut)" = 0 ] || fail "a kill during recovery tore the journal"
pub check "$TW_SOCKET" "$work/acked2b.txt" 60 || fail "tasks lost by kills during recovery"
wait_counter tasks_succeeded 50
wait_counter journal_outstanding 0
echo "ok (${SECONDS}s): kill -9 during recovery (compacted copy written, not synced; old segments" \
	"half removed): the 50 tasks recovered once each from the copies left, and run"

# 3
pub subscribe "$TW_ENGINE" dq >/dev/null
pub publish "$TW_ENGINE" dq 20 "$work/acked3.txt" 300000 >/dev/null
[ "$(wc -l <"$work/acked3.txt")" = 20 ] || fail "step 3: not all 20 ACKed"
crash
seg=$(ls "$data"/*.twj | tail -1)
# a byte of the first record's header (the segment header is 16 bytes)
pub flip "$seg" 40
if restart "$data" 2>/dev/null; then
	fail "a corrupt record in the middle was skipped"
fi
grep -q "corrupt record in $(basename "$seg") at byte 16 with valid records after it" \
	"$dir/dataplane.log" || fail "middle corruption not named"
grep -q "refusing to start" "$dir/dataplane.log" || fail "middle corruption: started"
tw_engine_stop "$dir" >/dev/null 2>&1 || true
echo "ok (${SECONDS}s): an inverted byte in the middle stops the start, file and offset named"

# 4
mkdir -p "$mnt"
mount -t tmpfs -o size=1m tmpfs "$mnt" || fail "tmpfs"
# a long commit window (100 ms): what is ACKed before the sync shows
start "$mnt/j" --journal-commit-us 100000 || fail "engine on the small tmpfs"
twctl queue declare dq --durable >/dev/null
twctl queue declare plain >/dev/null
pub subscribe "$TW_ENGINE" dq >/dev/null
# a retransmit of a durable task before its record is synced: its ACK waits too
d=$(pub dup "$TW_ENGINE" dq 400000)
echo "$d"
echo "$d" | awk '{ if ($2 != "ACK" || $4 != "ACK" || $3 < 50 || $5 < 50) exit 1 }' ||
	fail "a retransmit's ACK came before the sync: $d"
[ "$(counter tasks_duplicate)" = 1 ] || fail "the retransmit was not taken as a duplicate"
echo 400000 >"$work/acked4a.txt"
pub publish "$TW_ENGINE" dq 20 "$work/acked4a.txt.more" 400000 >/dev/null
cat "$work/acked4a.txt.more" >>"$work/acked4a.txt"
[ "$(wc -l <"$work/acked4a.txt")" = 21 ] || fail "step 4: not all 20 ACKed before the disk filled"
dd if=/dev/zero of="$mnt/filler" bs=4k count=1000 status=none 2>/dev/null || true
pub publish "$TW_ENGINE" dq 200 "$work/acked4b.txt" 500000 >"$work/pub4.txt" || true
cat "$work/pub4.txt"
# the segment's last page had room still: the first few may fit in it
nacked=$(field nacked "$work/pub4.txt")
acked4b=$(wc -l <"$work/acked4b.txt")
[ "$nacked" -gt 100 ] && [ $((nacked + acked4b)) = 200 ] ||
	fail "full disk: $nacked NACKed, $acked4b ACKed of 200"
[ "$(counter nack_journal)" = "$nacked" ] ||
	fail "full disk NACKs counted $(counter nack_journal), not $nacked"
[ "$(counter journal_write_errors)" -gt 0 ] || fail "write errors not counted"
out=$(tw_in_ns "$TW_BUILD/twctl" --socket "$TW_SOCKET" --engine "$TW_ENGINE" publish "" plain noop)
echo "$out" | grep -q ACK || fail "non-durable queue not served on a full disk: $out"
rm -f "$mnt/filler"
wait_counter journal_failing 0
pub publish "$TW_ENGINE" dq 20 "$work/acked4c.txt" 600000 >/dev/null
[ "$(wc -l <"$work/acked4c.txt")" = 20 ] || fail "room again: not all 20 ACKed"
crash
restart "$mnt/j" || fail "restart on the tmpfs journal"
cat "$work/acked4a.txt" "$work/acked4b.txt" "$work/acked4c.txt" >"$work/acked4.txt"
acked=$(wc -l <"$work/acked4.txt")
[ "$(counter journal_recovered)" = "$acked" ] ||
	fail "recovered $(counter journal_recovered), not the $acked ACKed"
pub check "$TW_SOCKET" "$work/acked4.txt" 60 || fail "ACKed tasks lost around the full disk"
wait_counter tasks_succeeded "$acked"
echo "ok (${SECONDS}s): full disk: $nacked durable tasks NACKed no-resources (counted), plain queue served," \
	"taken again with room, exactly the $acked ACKed recovered and run"

# 5: tasks due later are held by tw-control's scheduler, not journaled: an
# engine crash that tw-control outlives leaves them in its store (kept at
# its stop), and the next start restores them and runs them when due
tw_engine_stop "$dir" >/dev/null 2>&1 || true
umount "$mnt"
rm -rf "$data"
# the queue from definitions at start, before tw-control restores what it held
echo '{"queues": [{"name": "dq", "vhost": "/", "durable": true, "auto_delete": false,
  "arguments": {}}]}' >"$work/defs.json"
start "$data" --definitions "$work/defs.json" || fail "engine for due-later tasks"
twctl list queues --json | grep -q '"durable": true' || fail "durable queue from definitions"
TW_ETA_MS=5000 pub publish "$TW_ENGINE" dq 30 "$work/acked5.txt" 700000 >/dev/null
[ "$(wc -l <"$work/acked5.txt")" = 30 ] || fail "step 5: not all 30 ACKed"
[ "$(counter sched_held)" = 30 ] || fail "step 5: $(counter sched_held) held, not 30"
kill -9 "$TW_DP_PID"
tw_wait_for_line "$dir/control.log" "30 held tasks kept in the store" "$TW_CTL_PID" 10 ||
	fail "tw-control did not keep its held tasks when the engine died"
tw_stop_pid "$TW_CTL_PID" || true
TW_KEEP_STORE=1 restart "$data" --definitions "$work/defs.json" || fail "restart with the store kept"
grep -q "30 held tasks restored from the store" "$dir/control.log" ||
	fail "held tasks not restored"
pub check "$TW_SOCKET" "$work/acked5.txt" 30 || fail "due-later tasks lost in an engine crash"
wait_counter tasks_succeeded 30
echo "ok (${SECONDS}s): 30 due-later tasks outlived an engine crash in tw-control's store and ran when due"

# 6: tasks over one datagram: their records are larger than an mbuf's room
pub subscribe "$TW_ENGINE" dq >/dev/null
before=$(counter journal_bytes)
pub publish-large "$TW_ENGINE" dq 5 60000 "$work/acked6.txt" || fail "large durable tasks not ACKed"
[ "$(wc -l <"$work/acked6.txt")" = 5 ] || fail "step 6: not all 5 ACKed"
[ $(($(counter journal_bytes) - before)) -ge 300000 ] ||
	fail "step 6: the journal grew by $(($(counter journal_bytes) - before)) bytes for 5 x 60 kB"
crash
restart "$data" --definitions "$work/defs.json" || fail "restart with large records"
[ "$(counter journal_recovered)" = 5 ] || fail "step 6: recovered $(counter journal_recovered), not 5"
pub check "$TW_SOCKET" "$work/acked6.txt" 30 || fail "large durable tasks lost in a crash"
wait_counter tasks_succeeded 5
echo "ok (${SECONDS}s): 5 durable tasks of 60 kB (in fragments) journaled whole, recovered after kill -9 and run"
