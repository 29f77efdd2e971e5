#!/usr/bin/env bash
# runs alone: it bounds times (a countdown, a task behind a sleeping one,
# a schedule's runs in 1.1 s) that a second engine beside it would stretch (run.sh)
# Celery-style task features through the real binaries (run by run.sh in
# an engine's environment: TW_DIR, TW_SOCKET, TW_ENGINE, TW_NETNS, TW_*_PID):
#  1. countdown and eta: held by tw-control's scheduler, run when due;
#  2. expires: a task not started in time is EXPIRED, never run;
#  3. retries: flaky succeeds on its 3rd retry (retry count in the result
#     store); exhausted retries end in FAILURE; autoretry with backoff;
#  4. revoke: a scheduled task is REVOKED; unknown and finished ids are
#     refused (exit 1);
#  5. result store: `twctl result`, ignore_result, PROGRESS then SUCCESS,
#     results survive a restart of tw-control; forget;
#  6. `list tasks` shows scheduled and revoked tasks;
#  7. bad input: negative countdown, malformed eta, retry options without
#     --max-retries (exit 2, message); unknown task (FAILURE naming it);
#  8. plugins: a plugin's tasks run (progress, retries with backoff,
#     follow-up publishes); a plugin that fails to load stops
#     tw-dataplane at start with a message naming it;
#  9. threads pool: blocking tasks on threads, hard time limit;
# 10. rate limits changed live, enforced without dropping tasks.
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
now_ms() { date +%s%3N; }
id_of() { awk '{print $2}' <<<"$1"; }
# `twctl result` exits 1 for any state but SUCCESS: keep the text, not the status
res() { twctl result "$@" || true; }

twctl queue declare jobs >/dev/null

# 1. countdown: the result comes no earlier than the countdown
t0=$(now_ms)
out=$(publish '' jobs add '[2,5]' --countdown 0.8 --wait 5)
t1=$(now_ms)
grep -q "SUCCESS 7" <<<"$out" || fail "countdown: $out"
[ $((t1 - t0)) -ge 800 ] || fail "countdown 0.8 s ran after $((t1 - t0)) ms"
eta=$(date -u -d "@$(($(date +%s) + 2))" +%Y-%m-%dT%H:%M:%SZ)
out=$(publish '' jobs add '[1,2]' --eta "$eta" --wait 5)
grep -q "SUCCESS 3" <<<"$out" || fail "eta: $out"
[ "$(date +%s)" -ge "$(date -u -d "$eta" +%s)" ] || fail "eta $eta: ran early"
echo "ok: countdown $((t1 - t0)) ms for 800 ms, eta"

# 2. expires before the countdown ends: EXPIRED, not run
out=$(publish '' jobs add '[1,1]' --countdown 0.5 --expires 0.1 --wait 5 || true)
grep -q "EXPIRED expired before a worker took it" <<<"$out" || fail "expires: $out"
echo "ok: expires"

# 3. retries
out=$(publish '' jobs flaky '[3]' --wait 5)
grep -q "SUCCESS 3" <<<"$out" || fail "flaky [3] (3 retries allowed): $out"
id=$(id_of "$out")
res "$id" | grep -q "SUCCESS flaky 3 (retries 3)" || fail "retries in the store: $(res "$id")"
out=$(publish '' jobs flaky '[9]' --wait 5 || true)
grep -q "FAILURE retries exhausted (3 of 3): flaky: attempt 4 of 10 failed" <<<"$out" ||
	fail "exhausted: $out"
t0=$(now_ms)
out=$(publish '' jobs fail '[]' --max-retries 3 --retry-countdown 100ms --retry-backoff --autoretry --wait 5 || true)
t1=$(now_ms)
grep -q "FAILURE retries exhausted (3 of 3): fail:" <<<"$out" || fail "autoretry: $out"
# backoff: 100 + 200 + 400 ms between the attempts
[ $((t1 - t0)) -ge 700 ] || fail "backoff retries took only $((t1 - t0)) ms"
echo "ok: retries, exhaustion, autoretry with backoff ($((t1 - t0)) ms for >= 700)"

# 4. revoke
out=$(publish '' jobs add '[4,4]' --countdown 30)
id=$(id_of "$out")
twctl list tasks | grep -q "$id  scheduled  add" || fail "not listed as scheduled: $(twctl list tasks)"
res "$id" | grep -q "PENDING add \[scheduled\]" || fail "scheduled result: $(res "$id")"
twctl revoke "$id" | grep -q revoked || fail "revoke"
res "$id" --wait 5 | grep -q "REVOKED add revoked before it started" ||
	fail "revoked result: $(res "$id")"
twctl list tasks --json | grep -q "\"task_id\": \"$id\", \"status\": \"revoked\"" ||
	twctl list tasks --json | tr -d ' \n' | grep -q "\"task_id\":\"$id\",\"status\":\"revoked\"" ||
	fail "not listed as revoked"
if twctl revoke "$id" 2>"$TW_DIR/err.txt"; then fail "second revoke accepted"; fi
grep -q "already finished (REVOKED)" "$TW_DIR/err.txt" || fail "second revoke: $(cat "$TW_DIR/err.txt")"
rc=0; twctl revoke 00000000deadbeef 2>"$TW_DIR/err.txt" || rc=$?
[ $rc -eq 1 ] || fail "revoke of an unknown id: exit $rc"
grep -q "unknown task 00000000deadbeef" "$TW_DIR/err.txt" || fail "unknown revoke message"
rc=0; twctl revoke not-hex 2>/dev/null || rc=$?
[ $rc -eq 2 ] || fail "revoke of a malformed id: exit $rc"
echo "ok: revoke of a scheduled task, unknown and finished ids refused"

# 5. result store
out=$(publish '' jobs progress '[3]' --wait 5)
id=$(id_of "$out")
res "$id" | grep -q "SUCCESS progress 3" || fail "progress final: $(res "$id")"
out=$(publish '' jobs add '[5,5]' --ignore-result --wait 5)
grep -q "SUCCESS 10" <<<"$out" || fail "ignore_result: the publisher still gets it: $out"
id=$(id_of "$out")
res "$id" | grep -q "PENDING" || fail "ignore_result kept in the store: $(res "$id")"
out=$(publish '' jobs echo '"keep me"' --wait 5)
kept=$(id_of "$out")
twctl --json result "$kept" | tr -d ' ' | grep -q '"state":"SUCCESS"' || fail "result --json"
tw_stop_pid "$TW_CTL_PID" || fail "tw-control did not stop"
tw_control_spawn "$TW_DIR" "$TW_PREFIX" "$TW_DIR/control2.log"
ctl=$!
sed -i "s/^TW_CTL_PID=.*/TW_CTL_PID=$ctl/" "$TW_DIR/engine.env"
TW_CTL_PID=$ctl
tw_wait_for_line "$TW_DIR/control2.log" "tw-control: ready" "$ctl" 30 || fail "tw-control restart"
res "$kept" | grep -q 'SUCCESS echo "keep me"' || fail "result lost in a restart: $(res "$kept")"
twctl forget "$kept" >/dev/null || fail "forget"
res "$kept" | grep -q PENDING || fail "forgotten result still there"
if twctl forget "$kept" 2>/dev/null; then fail "forget of a forgotten id accepted"; fi
echo "ok: result store (progress, ignore_result, restart, forget)"

# 6. periodic schedules (celery beat), kept across a restart of tw-control
injected() { twctl status --json | tr -d ' \n' | grep -o '"tasks_injected":[0-9]*' | tail -1 | cut -d: -f2; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# runs of an every-200ms schedule between two moments, each known only
# between the clock readings around it (a loaded machine stretches the
# twctl calls): at least one per whole 200 ms surely inside, at most one
# per 200 ms of the outer span, plus one at each edge
within_rate() { # runs inner_ms outer_ms extra
	local lo=$(($2 / 200 - 1)) hi=$(($3 / 200 + 1 + $4))
	[ "$1" -ge "$lo" ] && [ "$1" -le "$hi" ]
}
before=$(injected)
a0=$(now_ms)
twctl schedule add tick --every 200ms '' jobs add '[20,22]' >/dev/null || fail "schedule add"
a1=$(now_ms)
twctl schedule add nightly --cron "30 3 * * mon-fri" '' jobs noop >/dev/null || fail "cron schedule add"
sleep 1.1
b0=$(now_ms)
runs=$(twctl --json list schedules | tr -d ' \n' | grep -o '"name":"tick"[^}]*' | grep -o '"runs":[0-9]*' | cut -d: -f2)
b1=$(now_ms)
within_rate "${runs:-0}" $((b0 - a1)) $((b1 - a0)) 0 ||
	fail "every 200ms ran ${runs:-0} times in $((b0 - a1))..$((b1 - a0)) ms"
last=$(twctl --json list schedules | tr -d ' \n' | grep -o '"name":"tick"[^}]*' | grep -o '"last_task_id":"[0-9a-f]*' | cut -d'"' -f4)
res "$last" --wait 2 | grep -q "SUCCESS add 42" || fail "scheduled run's result: $(res "$last")"
rc=0; twctl schedule add bad --cron "61 * * * *" '' jobs noop 2>"$TW_DIR/err.txt" || rc=$?
[ $rc -eq 1 ] && grep -q "minute field: 61 is out of range 0-59" "$TW_DIR/err.txt" || fail "malformed cron: rc $rc $(cat "$TW_DIR/err.txt")"
rc=0; twctl schedule add tick --every 1s '' jobs noop 2>"$TW_DIR/err.txt" || rc=$?
[ $rc -eq 1 ] && grep -q "exists" "$TW_DIR/err.txt" || fail "duplicate schedule: rc $rc"
rc=0; twctl schedule add x --every 1s --cron "* * * * *" '' jobs noop 2>/dev/null || rc=$?
[ $rc -eq 2 ] || fail "--every with --cron: rc $rc"
# a second tw-control is refused while one is attached
rc=0; "$TW_BUILD/tw-control" --file-prefix "$TW_PREFIX" --no-pci --lcores 126@0 \
	--log-level=lib.eal:error -- --socket "$TW_DIR/other.sock" --metrics off \
	--store "$TW_DIR/store2" >"$TW_DIR/second.log" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "already attached" "$TW_DIR/second.log" || fail "second tw-control: rc $rc $(cat "$TW_DIR/second.log")"
tw_stop_pid "$TW_CTL_PID" || fail "tw-control did not stop"
sleep 0.6
tw_control_spawn "$TW_DIR" "$TW_PREFIX" "$TW_DIR/control3.log"
ctl=$!
sed -i "s/^TW_CTL_PID=.*/TW_CTL_PID=$ctl/" "$TW_DIR/engine.env"
TW_CTL_PID=$ctl
tw_wait_for_line "$TW_DIR/control3.log" "tw-control: ready" "$ctl" 30 || fail "tw-control restart"
twctl list schedules | grep -q "nightly  cron 30 3 \* \* mon-fri" || fail "cron schedule lost: $(twctl list schedules)"
c0=$(now_ms)
base=$(injected)
c1=$(now_ms)
sleep 1
d0=$(now_ms)
twctl schedule remove tick >/dev/null || fail "schedule remove"
d1=$(now_ms)
twctl schedule remove nightly >/dev/null || fail "schedule remove"
after=$(injected)
# one catch-up run for the ticks missed while down, then one per 200 ms: never a burst
n=$((after - base))
within_rate $n $((d0 - c1)) $((d1 - c0)) 1 ||
	fail "after restart: $n runs in $((d0 - c1))..$((d1 - c0)) ms of an every-200ms schedule"
rc=0; twctl schedule remove tick 2>/dev/null || rc=$?
[ $rc -eq 1 ] || fail "removing an unknown schedule: rc $rc"
echo "ok: schedules (every, cron, results, restart: $n runs in $((d0 - c1))..$((d1 - c0)) ms, bad cron refused)"

# 7. bad input
rc=0; publish '' jobs add '[1,1]' --countdown -5 2>"$TW_DIR/err.txt" || rc=$?
[ $rc -eq 2 ] && grep -q "negative duration" "$TW_DIR/err.txt" || fail "negative countdown: rc $rc $(cat "$TW_DIR/err.txt")"
rc=0; publish '' jobs add '[1,1]' --eta tomorrow 2>"$TW_DIR/err.txt" || rc=$?
[ $rc -eq 2 ] && grep -q "not unix seconds" "$TW_DIR/err.txt" || fail "bad eta: rc $rc"
rc=0; publish '' jobs add '[1,1]' --autoretry 2>"$TW_DIR/err.txt" || rc=$?
[ $rc -eq 2 ] && grep -q "need --max-retries" "$TW_DIR/err.txt" || fail "retry options alone: rc $rc"
out=$(publish '' jobs no.such.task '[]' --wait 5 || true)
grep -q "FAILURE unknown task 'no.such.task'" <<<"$out" || fail "unknown task: $out"
echo "ok: bad input refused with messages"

# 8. plugins, in an engine of their own
outer_dir=$TW_DIR
plugin=$TW_BUILD/examples/libtw_example_tasks.so
if tw_engine_start ittaskbad --tasks "$TW_BUILD/examples/libtw_broken_tasks.so" 2>"$outer_dir/bad.txt"; then
	tw_engine_stop "$TW_BUILD/run/ittaskbad"
	fail "an engine with a failing plugin started"
fi
grep -q "libtw_broken_tasks.so: taskwire_plugin_init() failed with -22" "$outer_dir/bad.txt" ||
	fail "failing plugin not named: $(cat "$outer_dir/bad.txt")"
if tw_engine_start ittaskbad --tasks /nonexistent/tasks.so 2>"$outer_dir/bad.txt"; then
	tw_engine_stop "$TW_BUILD/run/ittaskbad"
	fail "an engine with a missing plugin started"
fi
grep -q "plugin /nonexistent/tasks.so: .*No such file" "$outer_dir/bad.txt" || fail "missing plugin not named"
pipeline=$TW_BUILD/examples/libtw_pipeline_tasks.so
tw_engine_start ittaskplug --tasks "$plugin" --tasks "$pipeline" --task sleep_us:pool=threads \
	--task sleep_us:time-limit=300 --threads 2 || fail "engine with the example plugin"
trap 'tw_engine_stop "$TW_BUILD/run/ittaskplug"' EXIT
. "$TW_BUILD/run/ittaskplug/engine.env"
twctl queue declare jobs >/dev/null
twctl queue declare words >/dev/null
out=$(publish '' jobs example.wordcount 'the quick brown fox' --wait 5)
grep -q "SUCCESS 4" <<<"$out" || fail "plugin wordcount: $out"
out=$(publish '' jobs example.countdown '5' --wait 5)
grep -q 'SUCCESS "liftoff"' <<<"$out" || fail "plugin countdown: $out"
out=$(publish '' jobs example.fetch_flaky '' --wait 5)
grep -q 'SUCCESS "fetched"' <<<"$out" || fail "plugin retries: $out"
res "$(id_of "$out")" | grep -q "(retries 2)" || fail "plugin retry count"
out=$(publish '' jobs example.fanout 'a b c' --wait 5)
grep -q "SUCCESS 3" <<<"$out" || fail "plugin fanout: $out"
for ((i = 0; i < 50; i++)); do
	n=$(twctl status --json | tr -d ' \n' | grep -o '"tasks_published_by_tasks":[0-9]*' | tail -1 | cut -d: -f2)
	[ "${n:-0}" -ge 3 ] && break
	sleep 0.1
done
[ "${n:-0}" -eq 3 ] || fail "follow-up publishes: ${n:-0}"
grep -q "loaded $plugin (12 tasks registered)" "$TW_DIR/dataplane.log" || fail "load line: $(grep loaded "$TW_DIR/dataplane.log")"
grep -q "loaded $pipeline (17 tasks registered)" "$TW_DIR/dataplane.log" || fail "load line: $(grep loaded "$TW_DIR/dataplane.log")"
echo "ok: plugins (tasks, progress, retries, follow-ups; bad plugins refused)"

# the example workflow plugin: script -> scenes -> every scene's shots in
# parallel -> collect, the fan-outs decided at run time (replace by group)
twctl queue declare studio >/dev/null
out=$(tw_in_ns "$TW_BUILD/twctl" --socket "$TW_SOCKET" --engine "$TW_ENGINE" publish \
	--workflow "$TW_ROOT/examples/workflow/pipeline.json" --wait 10)
grep -q 'SUCCESS {"scenes":3,"shots":9}' <<<"$out" || fail "pipeline (3 scenes of 2, 3, 4 shots): $out"
echo "ok: the script -> scenes -> shots -> collect pipeline"

# 9. threads pool: a sleeping task does not hold the lcore; the hard time
#    limit fails a stuck task and replaces its thread
publish '' jobs sleep_us '[1500000]' >/dev/null
t0=$(now_ms)
out=$(publish '' jobs add '[1,1]' --wait 5)
t1=$(now_ms)
grep -q "SUCCESS 2" <<<"$out" || fail "add while a thread sleeps: $out"
[ $((t1 - t0)) -lt 1000 ] || fail "add waited $((t1 - t0)) ms behind a sleeping thread task"
out=$(publish '' jobs sleep_us '[100000]' --wait 5)
grep -q "SUCCESS" <<<"$out" || fail "thread task: $out"
out=$(publish '' jobs sleep_us '[2000000]' --wait 5 || true)
grep -q "FAILURE hard time limit of 300 ms exceeded" <<<"$out" || fail "hard time limit: $out"
twctl list workers | grep -Eq "sleep_us +threads +- +300 ms" || fail "list workers: $(twctl list workers)"
twctl --json list workers | tr -d ' \n' | grep -q '"abandoned":[12]' || fail "abandoned count"
echo "ok: threads pool, hard time limit"

# 10. rate limit set live: 21 adds at 10/s take about 2 s, none dropped
twctl rate-limit add 10/s >/dev/null || fail "rate-limit"
t0=$(now_ms)
for i in $(seq 1 20); do publish '' jobs add "[$i,1]" >/dev/null; done
out=$(publish '' jobs add '[0,0]' --wait 10)
t1=$(now_ms)
grep -q "SUCCESS 0" <<<"$out" || fail "rate limited add: $out"
[ $((t1 - t0)) -ge 1800 ] || fail "21 adds at 10/s took $((t1 - t0)) ms"
twctl rate-limit add 0 >/dev/null || fail "rate-limit off"
rc=0; twctl rate-limit nosuch 1/s 2>/dev/null || rc=$?
[ $rc -eq 1 ] || fail "rate-limit of an unknown task: rc $rc"
rc=0; twctl rate-limit add 10/x 2>"$TW_DIR/err.txt" || rc=$?
[ $rc -eq 1 ] && grep -q 'unknown unit' "$TW_DIR/err.txt" || fail "bad rate: rc $rc"
echo "ok: rate limit 10/s: 21 tasks in $((t1 - t0)) ms"
sleep 1.6 # the abandoned thread finishes and gives its task back before the engine stops
tw_engine_stop "$TW_BUILD/run/ittaskplug" || fail "plugin engine did not stop cleanly"
trap - EXIT
TW_DIR=$outer_dir
