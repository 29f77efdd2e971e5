#!/usr/bin/env bash
# examples/studio end to end (run by run.sh in an engine's environment):
# the Django project's view starts a film (POST /films/), a Python worker
# beside the engine runs the chain script -> scenes -> shoot_all, which
# fans out one shot per scene to the "gpu" queue, served by a worker with
# concurrency 1 in a second network namespace standing for a GPU host;
# the run's page (served by Django, another origin than tw-control's),
# opened before the run starts, starts it and follows everything live with
# a view token: headless Chromium must see it reach "done: N shots".
# Checked besides the page: the join's result in the result store (N
# shots, every scene once, all from the GPU host, the bytes asked for),
# and a second run while the first is still going keeps its own events.
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
here=$(dirname "$0")
py=/usr/bin/python3
studio=$TW_ROOT/examples/studio
gpu="tw-${TW_IT_TAG:-}studiogpu"
prof=$(mktemp -d /tmp/tw-studio.XXXXXX)
pids=()
cleanup() {
	local rc=$? p f
	for p in "${pids[@]}"; do tw_stop_pid "$p" || true; done
	if [ $rc -ne 0 ]; then
		for f in "$TW_DIR"/worker-*.log "$TW_DIR/studio-web.log"; do
			[ -f "$f" ] && { echo "--- $f"; tail -25 "$f"; }
		done
	fi
	it_host_del "$gpu"
	rm -rf "$prof"
}
trap cleanup EXIT

scenes=5
# sizes: results of several kB between the steps: 3,000-byte shots, each
# over one datagram, and a join that takes all five, 15 kB, in its
# arguments (from the group's slot, delivered in fragments); the script and
# its scenes, 6,000 bytes, pass between chain steps the engine makes in its
# large buffers (over one packet buffer). Scenes of 1,200 bytes make
# shoot_all's chord too large for one frame: its members go on their own,
# and must carry the run's root for the page to see them
export STUDIO_SCENES=$scenes STUDIO_SCRIPT_BYTES=${STUDIO_SCRIPT_BYTES:-6000}
export STUDIO_SHOT_BYTES=${STUDIO_SHOT_BYTES:-3000} STUDIO_SHOT_SECONDS=0.3
[ -n "${TW_METRICS:-}" ] || TW_METRICS=$(sed -n 's|^tw-control: metrics on http://\(.*\)/metrics$|\1|p' "$TW_DIR/control.log")
bash "$TW_ROOT/clients/python/build.sh" "$TW_BUILD/python" >/dev/null
export TW_PYTHON_GEN=$TW_BUILD/python TW_METRICS TW_SOCKET TW_ENGINE
export PYTHONPATH=$TW_ROOT/clients/python:$studio DJANGO_SETTINGS_MODULE=studio.settings

it_host_add "$gpu"
for q in studio gpu; do twctl queue declare "$q" >/dev/null; done

# worker NS QUEUE ARGS...: a studio worker in namespace NS
worker() {
	local ns=$1 q=$2 log; shift 2
	log=$TW_DIR/worker-$q.log
	(cd "$studio" && exec ip netns exec "$ns" $py -B -m taskwire worker -A studio.tasks_app \
		-Q "$q" "$@") >"$log" 2>&1 &
	pids+=($!)
	tw_wait_for_line "$log" "taskwire worker: ready" "$!" 30 || fail "worker for $q: $(cat "$log")"
}
worker "$TW_NETNS" studio -P threads -c 4
worker "$gpu" gpu -P prefork -c 1

# the web process on the host, its engine socket in the engine's namespace
port=$((20000 + RANDOM % 20000))
(cd "$studio" && TW_CLIENT_NETNS=$TW_NETNS exec $py -B manage.py runserver --noreload \
	"127.0.0.1:$port") >"$TW_DIR/studio-web.log" 2>&1 &
pids+=($!)
post() { # idea -> the view's JSON answer
	$py -c 'import json, sys, urllib.request as u
r = u.urlopen(u.Request(sys.argv[1], data=json.dumps({"idea": sys.argv[2]}).encode(), method="POST"), timeout=10)
print(r.read().decode())' "http://127.0.0.1:$port/films/" "$1"
}
for ((i = 0; i < 100; i++)); do
	# any HTTP answer means it serves (GET /films/ is refused: 405)
	$py -c "import urllib.request as u, urllib.error as e
try: u.urlopen('http://127.0.0.1:$port/films/', timeout=1)
except e.HTTPError: pass" 2>/dev/null && break
	tw_nap 0.2
done
[ $i -lt 100 ] || fail "the studio did not serve: $(tail -20 "$TW_DIR/studio-web.log")"

# a wrong method and a bad body are refused by the view
code=$($py -c "import urllib.request as u, urllib.error as e
try: u.urlopen('http://127.0.0.1:$port/films/', timeout=5)
except e.HTTPError as x: print(x.code)") || true
[ "$code" = 405 ] || fail "GET /films/ answered $code, want 405"

# a run started by a plain POST, still going while the page's own runs
a2=$(post "two robots open a bakery") || fail "POST /films/: $(tail -5 "$TW_DIR/studio-web.log")"
field() { $py -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
[ -n "$(field "$a2" run)" ] || fail "the view started no run: $a2"
# bad bodies refused by the view, nothing started
for body in '{}' '{"idea": "x", "run": "zz"}' '{"idea": "x", "run": "0000000000000000"}' 'not json'; do
	code=$($py -c 'import sys, urllib.request as u, urllib.error as e
try: u.urlopen(u.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST"), timeout=5); print(200)
except e.HTTPError as x: print(x.code)' "http://127.0.0.1:$port/films/" "$body")
	[ "$code" = 400 ] || fail "POST $body answered $code, want 400"
done

idea1="a lighthouse keeper learns to fly"
# the page, in a real browser, until it says done (bounded)
timeout -k 5 120 $py "$here/dashboard_cdp.py" --profile "$prof" --wait 60 \
	--until "document.getElementById('status').textContent.startsWith('done')" \
	--dom "$TW_DIR/studio-run.html" --screenshot "$TW_DIR/studio-run.png" \
	--log "$TW_DIR/chromium-studio.log" \
	"http://127.0.0.1:$port/films/new/?idea=$($py -c 'import sys, urllib.parse as p; print(p.quote(sys.argv[1]))' "$idea1")" ||
	fail "the browser driver failed: $(tail -5 "$TW_DIR/chromium-studio.log" | grep -v dbus)
	the page: $(sed -n '/<h1>/,/<\/table>/p' "$TW_DIR/studio-run.html" 2>/dev/null | sed 's/<[^>]*>/ /g' | tr -s ' \n' ' ')"
status=$(grep -o '<span id="status">[^<]*' "$TW_DIR/studio-run.html" | sed 's/.*>//')
[ "$status" = "done: $scenes shots" ] || fail "the page says '$status', want 'done: $scenes shots'"
shots=$(grep -o '<span id="shots">[^<]*' "$TW_DIR/studio-run.html" | sed 's/.*>//')
[ "$shots" = "$scenes" ] || fail "the page counted $shots shots done, want $scenes (the other run's events mixed in?)"
summary=$(grep -o '<p id="summary">[^<]*' "$TW_DIR/studio-run.html" | sed 's/.*>//')
want="$scenes shots, $((scenes * STUDIO_SHOT_BYTES)) bytes, from 1 GPU host(s)"
[ "$summary" = "$want" ] || fail "the page's summary is '$summary', want '$want'"
head -c 8 "$TW_DIR/studio-run.png" | od -An -c | grep -q 'P   N   G' || fail "no PNG screenshot"
if [ "${TW_SAVE_SCREENSHOT:-0}" = 1 ]; then cp "$TW_DIR/studio-run.png" "$TW_ROOT/perf/results/studio.png"; fi
run1=$(grep -o '<code id="run">[^<]*' "$TW_DIR/studio-run.html" | sed 's/.*>//')
shoot1=$(grep -o '<code id="shoot">[^<]*' "$TW_DIR/studio-run.html" | sed 's/.*>//')
a1="{\"run\": \"$run1\", \"shoot\": \"$shoot1\"}"
echo "ok: Chromium started run $run1 and followed it to '$status'"

# both runs' results from the result store: the script, and the join that
# shoot_all started (every scene once, all shot on the GPU host)
ip netns exec "$TW_NETNS" env A1="$a1" A2="$a2" IDEA1="$idea1" \
	GPU_NS="$(ip netns exec "$gpu" stat -L -c %i /proc/self/ns/net)" $py -B -c '
import json, os
from studio.tasks_app import app
scenes, gpu = int(os.environ["STUDIO_SCENES"]), os.environ["GPU_NS"]
script_bytes = int(os.environ["STUDIO_SCRIPT_BYTES"])
shot_bytes = int(os.environ["STUDIO_SHOT_BYTES"])
for k in ("A1", "A2"):
    a = json.loads(os.environ[k])
    film = app.client.AsyncResult(a["run"]).get(timeout=30)
    assert len(film["script"]) == script_bytes // 3 * 3, len(film["script"])
    if k == "A1":
        assert film["idea"] == os.environ["IDEA1"], film["idea"]
    shoot = app.client.AsyncResult(a["shoot"]).get(timeout=30)
    assert shoot["scenes"] == scenes, shoot
    done = app.client.AsyncResult(shoot["collect"]).get(timeout=60)
    assert done["shots"] == scenes and done["scenes"] == list(range(1, scenes + 1)), done
    assert done["bytes"] == scenes * shot_bytes, done
    assert done["hosts"] == [gpu], (done["hosts"], gpu)
    print("ok: run %s: %d-byte script, %d shots of %d bytes on the GPU host" %
          (a["run"], len(film["script"]), done["shots"], shot_bytes))
' || fail "the runs' results"
# the script's and the scenes' steps (6 kB each) went in large buffers:
# two a run, none refused
big=$(counter wf_big_steps)
[ "${big:-0}" -ge 4 ] || fail "chain steps made in large buffers: ${big:-0}, want 4 at least"
[ "$(counter wf_big_refused)" = 0 ] || fail "big steps refused: $(counter wf_big_refused)"
echo "ok: $big chain steps over one packet buffer made in large buffers"
