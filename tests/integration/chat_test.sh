#!/usr/bin/env bash
# examples/chat: a Django Channels chat served by Daphne whose channel
# layer is taskwire (taskwire.contrib.channels), in the engine's namespace.
# Two headless Chromium pages join room "lobby"; each says hello a moment
# after its WebSocket opens; a management command (another process) then
# notifies everyone. Each page must show both hellos and the notice: the
# room's group_send and the everyone group's reached both pages through the
# engine's exchanges and queues. Screenshots are kept in the test's folder.
# not repeated sanitized: its time is Daphne's and Chromium's; the layer's
# traffic through the engine is sanitized by python_client_test's Channels tests
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
root=$TW_ROOT
chat=$root/examples/chat
bash "$root/clients/python/build.sh" "$TW_BUILD/python" >/dev/null
export TW_PYTHON_GEN=$TW_BUILD/python PYTHONPATH=$root/clients/python:$chat
export DJANGO_SETTINGS_MODULE=chatsite.settings
pids=()
profiles=()
cleanup() {
	local p
	for p in "${pids[@]}"; do tw_stop_pid "$p" || true; done
	for p in "${profiles[@]}"; do rm -rf "$p"; done
}
trap cleanup EXIT
in_ns() { ip netns exec "$TW_NETNS" env TW_ENGINE="$TW_ENGINE" TW_SOCKET="$TW_SOCKET" "$@"; }

port=$((20000 + RANDOM % 20000))
# exec all the way down (ip netns exec and env exec too): $! is daphne itself,
# so the cleanup's stop reaches it
(cd "$chat" && exec ip netns exec "$TW_NETNS" env TW_ENGINE="$TW_ENGINE" TW_SOCKET="$TW_SOCKET" \
	/usr/bin/python3 -m daphne -b 127.0.0.1 -p "$port" chatsite.asgi:application) \
	>"$TW_DIR/daphne.log" 2>&1 &
pids+=($!)
for ((i = 0; i < 100; i++)); do
	in_ns /usr/bin/python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/chat/lobby/', timeout=1)" \
		2>/dev/null && break
	tw_nap 0.2
done
[ $i -lt 100 ] || fail "daphne did not serve the page: $(tail -20 "$TW_DIR/daphne.log")"
echo "ok: daphne serves the chat on port $port"

page() { # NAME: a browser page in the lobby for 15 s, its DOM and screenshot in the test folder
	local prof
	prof=$(mktemp -d /tmp/tw-dash.XXXXXX)
	profiles+=("$prof")
	ip netns exec "$TW_NETNS" timeout -k 5 90 /usr/bin/python3 "$root/tests/integration/dashboard_cdp.py" \
		--profile "$prof" --wait 15 --dom "$TW_DIR/chat-$1.html" \
		--screenshot "$TW_DIR/chat-$1.png" --log "$TW_DIR/chromium-$1.log" \
		"http://127.0.0.1:$port/chat/lobby/?name=$1&say=hi-from-$1&delay_ms=2000" &
	pids+=($!)
	last=$!
}
page ada
ada=$last
page bob
bob=$last
tw_nap 7
(cd "$chat" && in_ns /usr/bin/python3 -B manage.py notify_all "maintenance at noon") ||
	fail "notify_all: see above"
wait "$ada" || fail "the browser driver (ada) failed: $(tail -5 "$TW_DIR/chromium-ada.log")"
wait "$bob" || fail "the browser driver (bob) failed: $(tail -5 "$TW_DIR/chromium-bob.log")"
for who in ada bob; do
	dom=$TW_DIR/chat-$who.html
	grep -q 'id="state">connected' "$dom" || fail "$who's page never connected: $(grep -o 'id="state">[a-z]*' "$dom")"
	for line in "ada: hi-from-ada" "bob: hi-from-bob" "server: maintenance at noon"; do
		grep -q "<li>$line</li>" "$dom" ||
			fail "$who's page lacks '$line': $(grep -o '<li>[^<]*</li>' "$dom" | tr '\n' ' ')"
	done
	echo "ok: $who's page shows both hellos and the notice ($(grep -o '<li>' "$dom" | wc -l) messages)"
done
grep -qi "traceback" "$TW_DIR/daphne.log" && fail "daphne logged an error: $(grep -A5 -i traceback "$TW_DIR/daphne.log")"
tw_stop_pid "${pids[0]}" || fail "daphne did not stop"
kill -0 "${pids[0]}" 2>/dev/null && fail "daphne still running"
echo "chat_test: all passed"
