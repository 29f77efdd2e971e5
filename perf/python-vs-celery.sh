#!/usr/bin/env bash
# One Python process publishing confirmed tasks: taskwire's Python client
# (clients/python) against Celery's .delay() to Redis, same machine, same
# run, same count of noop tasks. Each publisher runs on CPU 0.
#   taskwire: N x noop.delay() (one frame each), then wait for every
#             confirm; and again with client.batch() (32 per frame)
#   Celery:   N x noop.delay(); each returns once Redis has the message
# Starts a private redis-server on loopback (a free port, its own dir, no
# persistence) and a taskwire engine (deploy/lib.sh, id pyperf); stops both
# by PID. Prints both rates and the ratio, and writes
# perf/results/python-vs-celery.md.
#   TW_PY_TASKS  tasks per publisher (default 20000)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/deploy/lib.sh"

n=${TW_PY_TASKS:-20000}
py=/usr/bin/python3
work=$TW_BUILD/run/pyperf-redis
out=$root/perf/results
redis_pid=
engine_dir=
cleanup() {
	[ -n "$redis_pid" ] && tw_stop_pid "$redis_pid"
	[ -n "$engine_dir" ] && tw_engine_stop "$engine_dir"
}
trap cleanup EXIT

bash "$root/perf/install-services.sh" redis-server python3-celery python3-redis python3-protobuf \
	protobuf-compiler || exit 1
bash "$root/clients/python/build.sh" "$TW_BUILD/python" >/dev/null || exit 1
export TW_PYTHON_GEN=$TW_BUILD/python

rm -rf "$work"
mkdir -p "$work" "$out"
# a free loopback port: the kernel picks it, we release it for redis
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
	--dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
for ((i = 0; i < 100; i++)); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "python-vs-celery: redis did not start"; cat "$work/redis.log"; exit 1; }

tw_engine_start pyperf >/dev/null || { echo "python-vs-celery: engine did not start"; exit 1; }
engine_dir=$TW_DIR
# shellcheck disable=SC1091
. "$engine_dir/engine.env"

echo "python-vs-celery: $n noop tasks per publisher, one Python process each, CPU 0"
celery_json=$(cd "$root/perf/peers" && TW_PEER_BROKER="redis://127.0.0.1:$port/0" \
	TW_PEER_BACKEND="redis://127.0.0.1:$port/1" timeout 600 taskset -c 0 "$py" python_publish.py celery "$n") ||
	{ echo "python-vs-celery: the Celery publisher failed"; exit 1; }
tw_json=$(TW_ENGINE=$TW_ENGINE TW_SOCKET=$TW_SOCKET timeout 600 taskset -c 0 ip netns exec "$TW_NETNS" \
	"$py" "$root/perf/peers/python_publish.py" taskwire "$n") ||
	{ echo "python-vs-celery: the taskwire publisher failed"; exit 1; }
twb_json=$(TW_ENGINE=$TW_ENGINE TW_SOCKET=$TW_SOCKET timeout 600 taskset -c 0 ip netns exec "$TW_NETNS" \
	"$py" "$root/perf/peers/python_publish.py" taskwire "$n" --batch) ||
	{ echo "python-vs-celery: the taskwire batch publisher failed"; exit 1; }

rate() { grep -o '"tasks_per_sec": [0-9.]*' <<<"$1" | awk '{ print $2 }'; }
retx() { grep -o '"retransmits": [0-9]*' <<<"$1" | awk '{ print $2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "n/a" }'; }
celery=$(rate "$celery_json")
tw=$(rate "$tw_json")
twb=$(rate "$twb_json")
{
	echo "# One Python process publishing confirmed tasks (\`perf/python-vs-celery.sh\`)"
	echo
	echo "$n noop tasks per publisher, each publisher on CPU 0, same machine, same run."
	echo "taskwire: \`noop.delay()\` through clients/python, then every confirm awaited (kernel UDP"
	echo "over TAP into the engine's namespace). Celery 5.2: \`noop.delay()\` to a private Redis"
	echo "(each call returns once Redis has the message)."
	echo
	echo "| publisher | tasks/s | vs Celery |"
	echo "| --- | ---: | ---: |"
	echo "| Celery .delay() to Redis | $celery | 1.0x |"
	echo "| taskwire .delay(), one task per frame | $tw | $(ratio "$tw" "$celery") |"
	echo "| taskwire .delay() in client.batch() | $twb | $(ratio "$twb" "$celery") |"
	echo
	echo "taskwire retransmits: $(retx "$tw_json") (one per frame), $(retx "$twb_json") (batched)."
} | tee "$out/python-vs-celery.md"
