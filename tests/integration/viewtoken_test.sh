#!/usr/bin/env bash
# runs alone: the page must connect within the task's 2 s countdown, which a
# second engine beside it stretched under load (run.sh)
# A web page following one task on tw-control's WebSocket and event stream
# with a view token the application signed for it (taskwire.progress),
# through the real binaries: from another Origin, with no HTTP token;
#  1. live: a task held 2 s by the scheduler, followed from before it runs:
#     its state first (PENDING), then its progress and its end;
#  2. late: after it ended, the first object is its end (SUCCESS, result),
#     over WebSocket and SSE, and GET /api/tasks/ID answers; the shop
#     example's page for the task (Django) carries a view token that works,
#     never tw-control's own token; the same page in headless Chromium,
#     served by Django's dev server, shows the task's end (screenshot kept);
#  3. refused (401, counted): another task's token, expired, living past a
#     day, tampered, malformed, signed with another key, another task over
#     the API; the task list and revoke stay closed to it (403 from the
#     page's origin, 401 without one); a foreign Origin without one (403).
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
here=$(dirname "$0")
py=/usr/bin/python3
# the Python client's generated modules in this build's folder (a sanitized suite
# has no build/python of its own)
bash "$TW_ROOT/clients/python/build.sh" "$TW_BUILD/python" >/dev/null
export TW_PYTHON_GEN=$TW_BUILD/python
[ -n "${TW_METRICS:-}" ] || TW_METRICS=$(sed -n 's|^tw-control: metrics on http://\(.*\)/metrics$|\1|p' "$TW_DIR/control.log")
base=http://$TW_METRICS
export TW_SOCKET TW_METRICS

twctl queue declare vq >/dev/null
out=$(publish "" vq progress '[5]' --countdown 2) || fail "publish: $out"
id=$(awk '{print $2}' <<<"$out")
[ -n "$id" ] || fail "no task id in: $out"
timeout 30 $py "$here/view_follow.py" live "$base" "$id" || fail "live"
timeout 30 $py "$here/view_follow.py" late "$base" "$id" || fail "late"
PYTHONPATH=$TW_ROOT/clients/python timeout 60 $py -B "$here/view_follow.py" page "$base" "$id" ||
	fail "the shop's page"

# a real browser: the shop's page served by Django (another origin than
# tw-control's), its script following the task over tw-control's WebSocket
shop=$TW_ROOT/examples/shop
pids=()
prof=$(mktemp -d /tmp/tw-view.XXXXXX)
cleanup() { local p; for p in "${pids[@]}"; do tw_stop_pid "$p" || true; done; rm -rf "$prof"; }
trap cleanup EXIT
port=$((20000 + RANDOM % 20000))
(cd "$shop" && PYTHONPATH=$TW_ROOT/clients/python:$shop SHOP_DB=$TW_DIR/shop.db \
	exec $py -B manage.py runserver --noreload --nothreading "127.0.0.1:$port") >"$TW_DIR/shop.log" 2>&1 &
pids+=($!)
for ((i = 0; i < 100; i++)); do
	$py -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/tasks/$id/progress/', timeout=1)" \
		2>/dev/null && break
	tw_nap 0.2
done
[ $i -lt 100 ] || fail "the shop did not serve the page: $(tail -20 "$TW_DIR/shop.log")"
timeout -k 5 90 $py "$here/dashboard_cdp.py" --profile "$prof" --wait 4 --dom "$TW_DIR/shop-progress.html" \
	--screenshot "$TW_DIR/shop-progress.png" --log "$TW_DIR/chromium-shop.log" \
	"http://127.0.0.1:$port/tasks/$id/progress/" || fail "the browser driver failed: $(tail -5 "$TW_DIR/chromium-shop.log")"
grep -q '<strong id="state">SUCCESS</strong>' "$TW_DIR/shop-progress.html" ||
	fail "the page in Chromium did not show SUCCESS: $(grep -o '<strong id="state">[^<]*' "$TW_DIR/shop-progress.html")"
echo "ok: Chromium showed the task's end on the shop's page, read from tw-control with the page's view token"

out=$(publish "" vq add '[1,2]' --wait 5) || fail "publish: $out"
other=$(awk '{print $2}' <<<"$out")
before=$(control_counter http_view_refused)
timeout 30 $py "$here/view_follow.py" refused "$base" "$id" "$other" || fail "refused"
after=$(control_counter http_view_refused)
[ $((after - before)) -ge 7 ] || fail "view refusals counted $((after - before)), want >= 7"
[ "$(control_counter http_view_ok)" -ge 4 ] || fail "view admissions not counted"
echo "ok: $((after - before)) view-token refusals counted, $(control_counter http_view_ok) admissions"
