#!/usr/bin/env bash
# Task events and the HTTP API through the real binaries (run by run.sh in
# an engine's environment):
#  1. `twctl events` shows a task's received, started and succeeded events,
#     a retry, a rejection (unroutable) and worker heartbeats; following a
#     chord's id gives its members' events, its own and its callback's;
#  2. the same events over Server-Sent Events (/events?task=ID) and over a
#     WebSocket (/ws?task=ID, handshake checked) while the task runs;
#  3. /api/overview, /api/tasks/ID, /api/tasks?status=scheduled and
#     POST /api/tasks/ID/revoke (200, then 409 once finished, 404 unknown);
#  4. bad input: malformed ids (404), /ws without an upgrade (400), an
#     unknown path (404), twctl events --count 0 (exit 2).
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
http() { /usr/bin/python3 "$TW_ROOT/tests/integration/http_client.py" "$@"; }
. "$TW_DIR/engine.env"  # TW_METRICS: the HTTP address
base=http://$TW_METRICS
[ -n "$TW_METRICS" ] || fail "no HTTP address in engine.env"
twctl queue declare evq >/dev/null

# 1. twctl events
twctl events --timeout 6 >"$TW_DIR/events.txt" &
ev=$!
sleep 0.5
id=$(publish '' evq add '[20,22]' --wait 5 | awk '{print $2}')
fid=$(publish '' evq flaky '[1]' --wait 5 | awk '{print $2}')
echo '{"queue": "evq", "workflow": {"chord": {"header": [{"task": "add", "args": [1, 1]},
	{"task": "add", "args": [2, 2]}], "body": {"task": "tsum"}}}}' >"$TW_DIR/chord.json"
gid=$(tw_in_ns "$TW_BUILD/twctl" --socket "$TW_SOCKET" --engine "$TW_ENGINE" publish \
	--workflow "$TW_DIR/chord.json" --wait 5 | awk '/^workflow/ {print $2}')
rid=$(publish '' no-such-queue add '[1,1]' || true)
rid=$(awk '{print $2}' <<<"$rid")
sleep 2.5
tw_stop_pid "$ev" || true
for t in task-received task-started task-succeeded; do
	grep -q "$t .*$id add" "$TW_DIR/events.txt" || fail "no $t for $id: $(cat "$TW_DIR/events.txt")"
done
grep -q "task-succeeded .*$id add SUCCESS 42" "$TW_DIR/events.txt" || fail "no result in the event"
grep -q "task-retried .*$fid flaky RETRY" "$TW_DIR/events.txt" || fail "no task-retried"
grep -q "task-rejected .*$rid add REJECTED no binding matched" "$TW_DIR/events.txt" || fail "no task-rejected"
grep -q "worker-heartbeat lcore" "$TW_DIR/events.txt" || fail "no heartbeat"
# a group's id follows its members and itself (and a workflow root its steps)
twctl events --all --task "$gid" --timeout 1 --json >"$TW_DIR/group.txt"
[ "$(grep -c '"type":"task-succeeded".*"name":"add"' "$TW_DIR/group.txt")" -eq 2 ] ||
	fail "group $gid: members' task-succeeded: $(cat "$TW_DIR/group.txt")"
grep -q "\"task_id\":\"$gid\".*\"name\":\"chord\",.*\"state\":\"SUCCESS\"" "$TW_DIR/group.txt" ||
	fail "group $gid: its own success: $(cat "$TW_DIR/group.txt")"
grep -q '"name":"tsum".*"result":"6"' "$TW_DIR/group.txt" || fail "the chord's callback (root $gid)"
grep -q '"group_id":"'"$gid"'"' "$TW_DIR/group.txt" || fail "no group_id in the members' events"
if grep -q "\"task_id\":\"$id\"" "$TW_DIR/group.txt"; then fail "another task's events in the group's"; fi
echo "ok: twctl events ($(wc -l <"$TW_DIR/events.txt") events)"

# 2. SSE and WebSocket: a client follows a queue, then a task is published to it
for kind in sse ws; do
	twctl queue declare "ev$kind" >/dev/null
	http "$kind" "$base/$([ $kind = sse ] && echo events || echo ws)?queue=ev$kind" '*' 10 \
		>"$TW_DIR/$kind.txt" 2>&1 &
	client=$!
	tw_wait_for_line "$TW_DIR/$kind.txt" ready "$client" 10 || fail "$kind client did not connect"
	sid=$(publish '' "ev$kind" add '[2,3]' --wait 5 | awk '{print $2}')
	wait "$client" || fail "$kind client: $(cat "$TW_DIR/$kind.txt")"
	grep -q "^task-started $sid" "$TW_DIR/$kind.txt" || fail "$kind: no task-started: $(cat "$TW_DIR/$kind.txt")"
	grep -q "^task-succeeded $sid 5" "$TW_DIR/$kind.txt" || fail "$kind: no task-succeeded: $(cat "$TW_DIR/$kind.txt")"
done
echo "ok: SSE and WebSocket streams"

# 3. HTTP API
out=$(http get "$base/api/overview")
[ "$(head -1 <<<"$out")" = 200 ] || fail "overview: $out"
grep -q '"name":"evq"' <<<"$out" || fail "overview has no queue evq"
grep -q '"tasks_executed":' <<<"$out" || fail "overview has no counters"
out=$(http get "$base/api/tasks/$id")
grep -q '"state":"SUCCESS".*"result":"42"' <<<"$out" || fail "task api: $out"
sid=$(publish '' evq add '[1,1]' --countdown 30 | awk '{print $2}')
http get "$base/api/tasks?status=scheduled" | grep -q "\"task_id\":\"$sid\"" || fail "scheduled list"
out=$(http post "$base/api/tasks/$sid/revoke")
[ "$(head -1 <<<"$out")" = 200 ] || fail "revoke: $out"
out=$(http post "$base/api/tasks/$sid/revoke")
[ "$(head -1 <<<"$out")" = 409 ] || fail "second revoke: $out"
out=$(http post "$base/api/tasks/00000000deadbeef/revoke")
[ "$(head -1 <<<"$out")" = 404 ] || fail "unknown revoke: $out"
echo "ok: HTTP API"

# 4. bad input
[ "$(http get "$base/api/tasks/not-hex" | head -1)" = 404 ] || fail "malformed id"
[ "$(http get "$base/ws" | head -1)" = 400 ] || fail "/ws without upgrade"
[ "$(http get "$base/nothing-here" | head -1)" = 404 ] || fail "unknown path"
rc=0; twctl events --count 0 2>/dev/null || rc=$?
[ $rc -eq 2 ] || fail "events --count 0: rc $rc"
echo "ok: bad input"
