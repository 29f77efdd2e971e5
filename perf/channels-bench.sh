#!/usr/bin/env bash
# make perf-channels: the Django Channels layer on taskwire
# (taskwire.contrib.channels) next to channels_redis on a private Redis,
# measured by one driver (perf/channels/channels_bench.py) in the same run
# on the same machine: send -> receive round trips (p50/p99), a stream of
# sends, and group_send fan-out to 100 and 1,000 member channels. Starts a
# taskwire engine (deploy/lib.sh, id chperf) and a redis-server on a free
# loopback port (its own dir, no persistence); stops both by PID. Writes
# perf/results/channels.md.
#   TW_CH_RTT     round trips (default 2000)
#   TW_CH_STREAM  streamed messages (default 5000)
#   TW_CH_REPS    group_sends per fan-out size (default 20)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/deploy/lib.sh"

py=/usr/bin/python3
work=$TW_BUILD/run/chperf-redis
out=$root/perf/results
redis_pid=
engine_dir=
cleanup() {
	[ -n "$redis_pid" ] && tw_stop_pid "$redis_pid"
	[ -n "$engine_dir" ] && tw_engine_stop "$engine_dir"
}
trap cleanup EXIT

bash "$root/perf/install-services.sh" redis-server python3-redis python3-channels-redis \
	python3-django-channels python3-msgpack || exit 1
bash "$root/clients/python/build.sh" "$TW_BUILD/python" >/dev/null || exit 1
export TW_PYTHON_GEN=$TW_BUILD/python

rm -rf "$work"
mkdir -p "$work" "$out"
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
	--dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
for ((i = 0; i < 100; i++)); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	tw_nap 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "perf-channels: redis did not start"; cat "$work/redis.log"; exit 1; }

tw_engine_start chperf >/dev/null || { echo "perf-channels: engine did not start"; exit 1; }
engine_dir=$TW_DIR
# shellcheck disable=SC1091
. "$engine_dir/engine.env"

args=(--rtt "${TW_CH_RTT:-2000}" --stream "${TW_CH_STREAM:-5000}" --reps "${TW_CH_REPS:-20}" --fanout 100,1000)
echo "perf-channels: channels_redis on redis-server 127.0.0.1:$port"
redis_json=$(timeout 600 "$py" -B "$root/perf/channels/channels_bench.py" redis --redis "127.0.0.1:$port" \
	"${args[@]}" 2>"$work/redis-driver.err") ||
	{ echo "perf-channels: the channels_redis run failed:"; tail -20 "$work/redis-driver.err"; exit 1; }
echo "perf-channels: taskwire layer on engine $TW_ENGINE"
tw_json=$(TW_ENGINE=$TW_ENGINE TW_SOCKET=$TW_SOCKET timeout 600 ip netns exec "$TW_NETNS" \
	"$py" -B "$root/perf/channels/channels_bench.py" taskwire "${args[@]}" 2>"$work/tw-driver.err") ||
	{ echo "perf-channels: the taskwire run failed:"; tail -20 "$work/tw-driver.err"; exit 1; }

"$py" - "$tw_json" "$redis_json" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" >"$out/channels.md" <<'PY'
import json, sys
tw, rd, cpus, load = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
def ratio(a, b, higher_better=True):
    if not a or not b:
        return "n/a"
    return "%.2fx" % ((a / b) if higher_better else (b / a))
print("# Django Channels layers: taskwire vs channels_redis (`make perf-channels`)")
print()
print("One driver (perf/channels/channels_bench.py), one Python process per layer, same machine")
print("(%s CPUs, shared with other work, load average %s at the end: indicative), same run." % (cpus, load))
print("channels_redis 4.0 on a private")
print("redis-server 7.0 over loopback; taskwire's layer over kernel UDP to the engine on a TAP port in")
print("its namespace (tw-control's socket for queues and bindings). \"taskwire / redis\": above 1 means")
print("taskwire is better (faster, or lower latency).")
print()
print("| measure | taskwire | channels_redis | taskwire / redis |")
print("| --- | ---: | ---: | ---: |")
t, r = tw["rtt"], rd["rtt"]
print("| send -> receive, 1 in flight: round trips/s (%d) | %.0f | %.0f | %s |" % (
    t["messages"], t["round_trips_per_sec"], r["round_trips_per_sec"],
    ratio(t["round_trips_per_sec"], r["round_trips_per_sec"])))
print("| send -> receive latency p50 (us) | %.0f | %.0f | %s |" % (t["p50_us"], r["p50_us"], ratio(t["p50_us"], r["p50_us"], False)))
print("| send -> receive latency p99 (us) | %.0f | %.0f | %s |" % (t["p99_us"], r["p99_us"], ratio(t["p99_us"], r["p99_us"], False)))
t, r = tw["stream"], rd["stream"]
print("| stream, each send awaited, receiver concurrent: messages/s (%d) | %.0f | %.0f | %s |" % (
    t["messages"], t["messages_per_sec"], r["messages_per_sec"], ratio(t["messages_per_sec"], r["messages_per_sec"])))
for t, r in zip(tw["fanout"], rd["fanout"]):
    n = t["members"]
    print("| group_send to %d members (4 layer instances), %d sends: deliveries/s | %.0f | %.0f | %s |" % (
        n, t["group_sends"], t["deliveries_per_sec"], r["deliveries_per_sec"],
        ratio(t["deliveries_per_sec"], r["deliveries_per_sec"])))
    print("| group_send to %d: until the last member has it, p50 (ms) | %.2f | %.2f | %s |" % (
        n, t["p50_ms"], r["p50_ms"], ratio(t["p50_ms"], r["p50_ms"], False)))
    print("| group_send to %d: until the last member has it, p99 (ms) | %.2f | %.2f | %s |" % (
        n, t["p99_ms"], r["p99_ms"], ratio(t["p99_ms"], r["p99_ms"], False)))
print()
print("Raw: taskwire `%s`; channels_redis `%s`" % (json.dumps(tw), json.dumps(rd)))
PY
cat "$out/channels.md"
