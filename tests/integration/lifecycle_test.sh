#!/usr/bin/env bash
# Process lifecycle through the real binaries (run by run.sh inside an
# engine's environment: TW_DIR, TW_SOCKET, TW_ENGINE, TW_NETNS, TW_*_PID):
#  1. tw-control restarted: re-attaches, finds queues, exchanges and
#     bindings in shared memory, and routing keeps working;
#  2. tw-dataplane killed with SIGKILL: tw-control notices and exits
#     within 5 s instead of spinning as an orphan secondary.
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"

twctl queue declare life >/dev/null
twctl exchange declare life.x direct >/dev/null
twctl bind life.x life k >/dev/null
before=$(twctl list bindings)

# 1. restart tw-control
tw_stop_pid "$TW_CTL_PID" || fail "tw-control did not stop"
tw_control_spawn "$TW_DIR" "$TW_PREFIX" "$TW_DIR/control2.log"
ctl=$!
sed -i "s/^TW_CTL_PID=.*/TW_CTL_PID=$ctl/" "$TW_DIR/engine.env"  # so the runner stops this one
tw_wait_for_line "$TW_DIR/control2.log" "tw-control: ready" "$ctl" 30 || fail "no re-attach"
grep -q "1 queues, 2 exchanges, 1 bindings" "$TW_DIR/control2.log" || fail "model not rebuilt: $(cat "$TW_DIR/control2.log")"
[ "$(twctl list bindings)" = "$before" ] || fail "bindings differ after restart"
out=$(tw_in_ns "$TW_BUILD/twctl" --socket "$TW_SOCKET" --engine "$TW_ENGINE" publish life.x k add '[20,22]' --wait 5)
echo "$out" | grep -q "SUCCESS 42" || fail "routing after restart: $out"
twctl bind life.x life k2 >/dev/null || fail "changes after restart"
echo "ok: tw-control re-attached and routes"

# 2. the primary dies
kill -KILL "$TW_DP_PID"
for ((i = 0; i < 50; i++)); do
	kill -0 "$ctl" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$ctl" 2>/dev/null && fail "tw-control still running 5 s after tw-dataplane died"
grep -q "exited; stopping" "$TW_DIR/control2.log" || fail "no reason logged"
echo "ok: tw-control exits when tw-dataplane dies"
