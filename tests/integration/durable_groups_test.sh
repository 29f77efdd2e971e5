#!/usr/bin/env bash
# Groups and chords across a crash of tw-dataplane, through the real
# binaries (run by run.sh; it manages an engine of its own, on a data
# directory, killed and restarted on it). A Python worker
# (durable_groups.py) serves the durable queue dg.
#  1. 20 chords of 5 members, a group of 5 and a chain of 2, all on dg:
#     every group node's confirm waited for its GROUP record (journal_held,
#     journal_groups);
#  2. a slow worker runs about 40 of the 106 first steps (some chords
#     finish, their callbacks run; one is half done; the rest wait), stops;
#     tw-dataplane and tw-control are killed with SIGKILL;
#  3. restarted on the journal (store kept): the open groups are rebuilt
#     with the results of the members done before the crash; a fast worker
#     runs the rest; every chord's callback ran exactly once with the
#     results of all its members (before and after the crash), the group's
#     members and the chain's last step have their results; nothing is
#     left outstanding in the journal, no member reported to an unknown
#     group. The members run again (their ack not yet synced) are counted.
#  4. a journal torn inside a GROUP record (the tail cut 24 bytes into
#     it) is cut there and counted at the next start;
#  5. groups a crash left between records (a segment written by the
#     test): a chord whose last two members were lost before their
#     records were written gets them published again, one whose members
#     were all done but whose callback was never made completes; each
#     callback runs once with all the results.
set -euo pipefail
. "$(dirname "$0")/../../deploy/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
id=dg${TW_IT_TAG:-}
id=${id:0:9}
dir=$TW_BUILD/run/$id
work=$TW_BUILD/run/$id-work
data=$work/data
py=/usr/bin/python3
wpid=
. "$(dirname "$0")/durable_lib.sh"
cleanup() {
	[ -z "$wpid" ] || tw_stop_pid "$wpid" || true
	tw_engine_stop "$dir" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
start() {
	TW_DATA_DIR=$data tw_engine_start "$id" "$@" || return 1
	# shellcheck disable=SC1091
	. "$dir/engine.env"
}
crash() {
	kill -9 "$TW_CTL_PID" "$TW_DP_PID"
	tw_stop_pid "$TW_CTL_PID" || true
	tw_stop_pid "$TW_DP_PID" || true
	tw_engine_stop "$dir" >/dev/null 2>&1 || true
}
# the engine run.sh started has no data directory: stopped at once, its
# hugepages are for this test's own engine
[ -z "${TW_DIR:-}" ] || tw_engine_stop "$TW_DIR" >/dev/null 2>&1 || true
rm -rf "$work"
mkdir -p "$work"
bash "$TW_ROOT/clients/python/build.sh" "$TW_BUILD/python" >/dev/null
export TW_PYTHON_GEN=$TW_BUILD/python PYTHONPATH=$TW_ROOT/clients/python:$here
export TW_DG_RUNS=$work/runs.log
pub() { tw_in_ns env TW_ENGINE="$TW_ENGINE" TW_SOCKET="$TW_SOCKET" $py -B "$here/durable_groups.py" "$@"; }
# worker SLEEP: a Python worker on dg, each part taking SLEEP seconds
worker() {
	(cd "$here" && TW_DG_SLEEP=$1 TW_ENGINE=$TW_ENGINE TW_SOCKET=$TW_SOCKET exec ip netns exec \
		"$TW_NETNS" $py -B -m taskwire worker -A durable_groups -Q dg -P threads -c 2) \
		>>"$work/worker.log" 2>&1 &
	wpid=$!
	tw_wait_for_line "$work/worker.log" "taskwire worker: ready" "$wpid" 30 ||
		fail "worker: $(cat "$work/worker.log")"
}
runs() { grep -c "^$1" "$TW_DG_RUNS" 2>/dev/null || true; }
N=20
M=5

# 1
start || fail "engine on a data directory"
twctl queue declare dg --durable --consumers remote >/dev/null || fail "queue declare"
pub publish $N $M "$work/ids.json" || fail "publish"
[ "$(counter journal_groups)" = $((N + 1)) ] ||
	fail "journal_groups $(counter journal_groups), want $((N + 1)) (the chords and the group)"
# the group nodes' confirms and the chain's first step waited for the disk
[ "$(counter journal_held)" -ge $((N + 2)) ] || fail "journal_held $(counter journal_held)"
echo "ok (${SECONDS}s): $N chords of $M, a group, a chain confirmed once their records were synced"

# 2
worker 0.05
for ((i = 0; i < 300; i++)); do
	[ "$(runs part)" -ge 40 ] && break
	tw_nap 0.05
done
tw_stop_pid "$wpid" || fail "worker did not stop"
wpid=
before=$(runs part)
cb_before=$(runs collect)
# chords (and the group) whose every member ran: they ended before the crash
closed=$(awk -v n=$N -v m=$M '$1 == "part" && ($2 < n || $2 == 100) { seen[$2 " " $3] = 1 }
	END { for (x in seen) { split(x, a, " "); c[a[1]]++ }; t = 0; for (k in c) t += c[k] == m; print t }' \
	"$TW_DG_RUNS")
[ "$before" -ge 40 ] && [ "$before" -lt $((N * M)) ] || fail "$before parts ran before the crash"
# the acks of what ran reach the disk (one commit), then the crash
tw_nap 0.2
crash
echo "ok (${SECONDS}s): killed with $before first steps run ($closed groups ended), $cb_before chord callbacks run"

# 3
TW_KEEP_STORE=1 start || fail "restart on the journal"
recovered=$(counter journal_groups_recovered)
[ "$recovered" = $((N + 1 - closed)) ] ||
	fail "groups recovered: $recovered, want $((N + 1 - closed)) ($closed ended before the crash)"
worker 0
pub check "$work/ids.json" $N $M 60 || fail "results after the crash"
for ((k = 0; k < N; k++)); do
	c=$(grep -c "^collect $k " "$TW_DG_RUNS" || true)
	[ "$c" = 1 ] || fail "the callback of chord $k ran $c times"
done
[ "$(runs bump)" = 1 ] || fail "the chain's second step ran $(runs bump) times"
wait_counter journal_outstanding 0
[ "$(counter wf_unknown_group)" = 0 ] || fail "members reported to unknown groups: $(counter wf_unknown_group)"
[ "$(counter journal_group_lost)" = 0 ] || fail "group records not handed: $(counter journal_group_lost)"
total=$(runs part)
echo "ok (${SECONDS}s): $recovered open groups rebuilt ($(counter journal_groups_resumed) resumed);" \
	"each of the $N callbacks ran once with all $M results, the group and the chain finished;" \
	"first steps run $total for $((N * M + M + 1)) ($((total - N * M - M - 1)) again: ack not synced)"

# 4: a chord left open, the journal torn inside its GROUP record
tw_stop_pid "$wpid" || true
wpid=
pub publish 1 2 "$work/ids4.json" >/dev/null || fail "publish before the tear"
# 5 (the same restart): a segment read first (number 0; the engine does not
# look while it runs), as a crash between records leaves it: chord 50 with
# members 0-2 done and 3-4 lost before their records were written, chord 51
# with every member done and its callback never made
pub craft "$data/0000000000000000.twj" "$work/ids5.json" 50 51 $M || fail "craft"
crash
seg=$(ls "$data"/*.twj | tail -1)
# the offset of the segment's last GROUP record (type 5): cut 24 bytes into it
at=$($py - "$seg" <<'EOF'
import struct, sys
b = open(sys.argv[1], "rb").read()
off, at = 16, -1
while off + 16 <= len(b):
    ln = struct.unpack_from("<I", b, off + 4)[0]
    if ln == 0:
        break
    if b[off + 8] == 5:
        at = off
    off += ln
print(at)
EOF
)
[ "$at" -gt 0 ] || fail "no GROUP record in the last segment"
truncate -s $((at + 24)) "$seg"
TW_KEEP_STORE=1 start || fail "restart with a torn GROUP record"
[ "$(counter journal_torn_cut)" = 1 ] || fail "torn GROUP record not counted"
echo "ok (${SECONDS}s): a torn GROUP record cut ($(counter journal_torn_bytes) bytes) and counted"
# the chord published before the tear (the group after it was cut) and the 2 crafted
[ "$(counter journal_groups_recovered)" = 3 ] ||
	fail "groups recovered $(counter journal_groups_recovered), want 3"
# the chord published before the tear too when its members' records were
# after the cut (they are published again)
for ((i = 0; i < 100; i++)); do
	[ "$(counter journal_groups_resumed)" != 0 ] && break
	tw_nap 0.1
done
resumed=$(counter journal_groups_resumed)
[ "$resumed" = 2 ] || [ "$resumed" = 3 ] || fail "groups resumed: $resumed, want 2 (or 3)"
worker 0
out=$(pub results "$work/ids5.json" 30)
want='50 [50, [500, 501, 502, 503, 504]]
51 [51, [510, 511, 512, 513, 514]]'
[ "$out" = "$want" ] || fail "resumed chords: $out"
[ "$(runs "part 50 ")" = 2 ] && [ "$(grep -c "^part 50 [34]$" "$TW_DG_RUNS")" = 2 ] ||
	fail "chord 50: the members run are not exactly the 2 lost: $(grep "^part 5" "$TW_DG_RUNS")"
[ "$(runs "part 51 ")" = 0 ] || fail "chord 51's members ran again"
[ "$(runs "collect 50 ")" = 1 ] && [ "$(runs "collect 51 ")" = 1 ] || fail "resumed callbacks not once"
wait_counter journal_outstanding 0
echo "ok (${SECONDS}s): resumed: a chord's 2 lost members published again, its callback with the" \
	"3 results from the journal and theirs; a chord all done completed; each callback once"
