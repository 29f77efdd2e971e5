#!/usr/bin/env bash
# The taskwire Django demo in one command: start a private engine
# (deploy/lib.sh, id djdemo, sleep_us on the threads pool), declare the
# demo queue, generate the client's protobuf modules, run Django's dev
# server on the host (the client opens its UDP socket inside the engine's
# namespace), print the URL; Ctrl-C stops Django and the engine.
#   run.sh [PORT]       default 8000
#   run.sh --check      start, publish a job through the view, follow it to
#                       the end over HTTP, stop (exit 0 when it worked)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/deploy/lib.sh"

check=0
port=8000
case "${1:-}" in
--check) check=1; port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ;;
"") ;;
*) port=$1 ;;
esac

for b in tw-dataplane tw-control twctl; do
	[ -x "$TW_BUILD/$b" ] || { echo "django demo: $TW_BUILD/$b is missing: run make first"; exit 1; }
done
for p in python3-django python3-protobuf protobuf-compiler; do
	if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
		echo "django demo: Debian package $p is missing (apt-get install -y $p)"; exit 1
	fi
done

engine_dir=
django_pid=
cleanup() {
	[ -n "$django_pid" ] && tw_stop_pid "$django_pid"
	[ -n "$engine_dir" ] && tw_engine_stop "$engine_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bash "$root/clients/python/build.sh" "$TW_BUILD/python" >/dev/null || exit 1
tw_engine_start djdemo --task sleep_us:pool=threads >/dev/null ||
	{ echo "django demo: the engine did not start"; exit 1; }
engine_dir=$TW_DIR
# shellcheck disable=SC1091
. "$engine_dir/engine.env"
"$TW_BUILD/twctl" --socket "$TW_SOCKET" queue declare demo >/dev/null || exit 1

export TW_ENGINE TW_SOCKET TW_NETNS TW_METRICS TW_PYTHON_GEN=$TW_BUILD/python TW_DEMO_QUEUE=demo
export PYTHONPATH=$root/clients/python${PYTHONPATH:+:$PYTHONPATH}
cd "$here" || exit 1
/usr/bin/python3 -B manage.py runserver --noreload "127.0.0.1:$port" >"$engine_dir/django.log" 2>&1 &
django_pid=$!
for ((i = 0; i < 100; i++)); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	kill -0 "$django_pid" 2>/dev/null || break
	sleep 0.1
done
if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
	echo "django demo: Django did not start; its log:"; cat "$engine_dir/django.log"; exit 1
fi

if [ $check -eq 1 ]; then
	/usr/bin/python3 - "$port" <<'PY'
import json, sys, time, urllib.error, urllib.request
base = "http://127.0.0.1:%s" % sys.argv[1]
assert b"taskwire from Django" in urllib.request.urlopen(base + "/").read()
req = urllib.request.Request(base + "/jobs", data=json.dumps({"steps": 4, "step_ms": 100}).encode())
job = json.load(urllib.request.urlopen(req))
print("django demo: job", job["job"], "with", len(job["members"]), "steps")
assert job["events"] and ("task=%s" % job["group"]) in job["events"] and "&view=" in job["events"], job
deadline = time.time() + 20
while time.time() < deadline:
    s = json.load(urllib.request.urlopen(base + "/jobs/" + job["job"]))
    print("django demo:", s)
    if s["state"] == "SUCCESS" or "error" in s:
        break
    time.sleep(0.2)
assert s["state"] == "SUCCESS" and s["done"] == 4, s
t = json.load(urllib.request.urlopen(base + "/tasks/" + job["members"][0]))
assert t["task"] == job["members"][0] and t["state"] == "SUCCESS" and "result" in t, t
bad = urllib.request.Request(base + "/tasks/nothex")
try:
    urllib.request.urlopen(bad)
    raise AssertionError("a malformed task id was answered")
except urllib.error.HTTPError as e:
    assert e.code == 400, e.code
print("django demo: ok")
PY
	exit $?
fi
echo "taskwire Django demo: http://127.0.0.1:$port/   (Ctrl-C stops Django and the engine)"
wait "$django_pid"
