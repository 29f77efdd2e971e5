#!/usr/bin/env bash
# A web page following one task on tw-control's WebSocket and event stream
# with a view token the application signed for it (taskwire.progress),
# through the real binaries: from another Origin, with no HTTP token;
#  1. live: a task held 2 s by the scheduler, followed from before it runs:
#     its state first (PENDING), then its progress and its end;
#  2. late: after it ended, the first object is its end (SUCCESS, result),
#     over WebSocket and SSE, and GET /api/tasks/ID answers; the shop
#     example's page for the task (Django) carries a view token that works,
#     never tw-control's own token;
#  3. refused (401, counted): another task's token, expired, living past a
#     day, tampered, malformed, signed with another key, another task over
#     the API; the task list and revoke stay closed to it (403 from the
#     page's origin, 401 without one); a foreign Origin without one (403).
set -euo pipefail
. "$(dirname "$0")/../../deploy/lib.sh"
fail() { echo "FAIL: $*"; exit 1; }
here=$(dirname "$0")
py=/usr/bin/python3
twctl() { "$TW_BUILD/twctl" --socket "$TW_SOCKET" "$@"; }
publish() { tw_in_ns "$TW_BUILD/twctl" --socket "$TW_SOCKET" --engine "$TW_ENGINE" publish "$@"; }
[ -n "${TW_METRICS:-}" ] || TW_METRICS=$(sed -n 's|^tw-control: metrics on http://\(.*\)/metrics$|\1|p' "$TW_DIR/control.log")
base=http://$TW_METRICS
counter() {
	twctl status --json | $py -c 'import json,sys; print(json.load(sys.stdin)["control"].get(sys.argv[1], 0))' "$1"
}
export TW_SOCKET TW_METRICS

twctl queue declare vq >/dev/null
out=$(publish "" vq progress '[5]' --countdown 2) || fail "publish: $out"
id=$(awk '{print $2}' <<<"$out")
[ -n "$id" ] || fail "no task id in: $out"
timeout 30 $py "$here/view_follow.py" live "$base" "$id" || fail "live"
timeout 30 $py "$here/view_follow.py" late "$base" "$id" || fail "late"
PYTHONPATH=$TW_ROOT/clients/python timeout 60 $py -B "$here/view_follow.py" page "$base" "$id" ||
	fail "the shop's page"
out=$(publish "" vq add '[1,2]' --wait 5) || fail "publish: $out"
other=$(awk '{print $2}' <<<"$out")
before=$(counter http_view_refused)
timeout 30 $py "$here/view_follow.py" refused "$base" "$id" "$other" || fail "refused"
after=$(counter http_view_refused)
[ $((after - before)) -ge 7 ] || fail "view refusals counted $((after - before)), want >= 7"
[ "$(counter http_view_ok)" -ge 4 ] || fail "view admissions not counted"
echo "ok: $((after - before)) view-token refusals counted, $(counter http_view_ok) admissions"
