#!/usr/bin/env bash
# make perf-async: 1,000 concurrent tasks that each wait 10 ms (a network
# call's stand-in), on ONE taskwire asyncio worker process
# (python3 -m taskwire worker -P asyncio -c 1000, `async def` tasks)
# next to Celery 5's worker on each of its pools that can run the same
# work concurrently (gevent and eventlet with -c 1000, threads -c 1000,
# prefork -c 16: a process per slot, 1,000 would not fit a small machine),
# same machine, same run, Celery on a private Redis (broker and results).
# Per system (perf/async/burst.py says what is measured): queued (the
# tasks published while no worker runs, then the worker starts: the span
# of the pool alone), and bursts (the worker up, one process publishes the
# tasks at once and awaits every result: wall time, tasks/s, latency
# p50/p99 from publish to the task's end in the worker); the worker's
# peak RSS (VmHWM, summed over its processes). Worker on CPU 1, publisher
# on CPU 0. Writes perf/results/async.md.
#   TW_AIO_TASKS   tasks per burst (default 1000; also the pools' concurrency)
#   TW_AIO_ROUNDS  bursts per system (default 3)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/deploy/lib.sh"
. "$root/perf/peers-lib.sh"

n=${TW_AIO_TASKS:-1000}
rounds=${TW_AIO_ROUNDS:-3}
py=/usr/bin/python3
work=$TW_BUILD/run/aioperf-peers  # not the engine's own folder, which its start empties
out=$root/perf/results
bench=$root/perf/async
redis_port=6392
engine_dir=
worker_pid=
client_pid=
credit=0
cleanup() {
	[ -n "$client_pid" ] && tw_stop_pid "$client_pid"
	[ -n "$worker_pid" ] && tw_stop_pid "$worker_pid"
	peers_stop
	[ -n "$engine_dir" ] && tw_engine_stop "$engine_dir"
}
trap cleanup EXIT

bash "$root/perf/install-services.sh" redis-server python3-celery python3-redis python3-gevent \
	python3-eventlet python3-protobuf protobuf-compiler || exit 1
bash "$root/clients/python/build.sh" "$TW_BUILD/python" >/dev/null || exit 1
export TW_PYTHON_GEN=$TW_BUILD/python

rm -rf "$work"
mkdir -p "$work" "$out"
peers_redis_start "$redis_port" "$work" || exit 1
tw_engine_start aioperf >/dev/null || { echo "perf-async: engine did not start"; exit 1; }
engine_dir=$TW_DIR
# shellcheck disable=SC1091
. "$engine_dir/engine.env"
# remote consumers only: tasks queued before the worker subscribes wait for it
"$TW_BUILD/twctl" --socket "$TW_SOCKET" queue declare aiobench --consumers remote >/dev/null || exit 1
broker="TW_PEER_BROKER=redis://127.0.0.1:$redis_port/0 TW_PEER_BACKEND=redis://127.0.0.1:$redis_port/1"

# worker_start SYSTEM POOL C: SYSTEM taskwire | celery
worker_start() {
	local sys=$1 pool=$2 c=$3 log=$work/$1-$2-worker.log
	case $sys in
	taskwire)
		(cd "$bench" && exec ip netns exec "$TW_NETNS" env TW_ENGINE="$TW_ENGINE" \
			PYTHONPATH="$root/clients/python" taskset -c 1 "$py" -B -m taskwire worker \
			-A taskwire_async_bench -Q aiobench -P "$pool" -c "$c" --prefetch-multiplier 1 \
			-l warning) >"$log" 2>&1 &
		worker_pid=$!
		tw_wait_for_line "$log" "taskwire worker: ready" "$worker_pid" 30 ||
			{ echo "perf-async: the taskwire worker did not start"; cat "$log"; return 1; }
		# the credit the engine granted (it clamps a larger one to its maximum)
		credit=$("$TW_BUILD/twctl" --socket "$TW_SOCKET" list consumers --json | "$py" -c \
			'import json, sys; print(max([c["prefetch"] for c in json.load(sys.stdin) if "aiobench" in c["queues"]] or [0]))') ;;
	celery)
		# -Ofair off, prefetch multiplier 1 (celery_async_bench.py): a burst
		# is spread as the pool frees slots
		(cd "$bench" && export $broker && exec taskset -c 1 "$py" -B -m celery \
			-A celery_async_bench worker --pool="$pool" --concurrency="$c" --without-heartbeat \
			--without-gossip --without-mingle -l warning) >"$log" 2>&1 &
		worker_pid=$! ;;
	esac
}
# The peak RSS in kB of PID and its children (Celery's prefork children).
peak_rss() {
	local p total=0 kb
	for p in "$1" $(pgrep -P "$1"); do
		kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		total=$((total + ${kb:-0}))
	done
	echo "$total"
}
# client SYSTEM MODE ARGS...: the publishing process on CPU 0; prints its JSON line
client() {
	local sys=$1; shift
	case $sys in
	taskwire)
		(cd "$bench" && TW_ENGINE=$TW_ENGINE timeout 600 taskset -c 0 \
			ip netns exec "$TW_NETNS" "$py" -B taskwire_async_bench.py "$@") ;;
	celery)
		(cd "$bench" && export $broker && timeout 600 taskset -c 0 "$py" -B \
			celery_async_bench.py "$@") ;;
	esac
}

rows=()
# system pool concurrency
for run in "taskwire asyncio $n" "celery gevent $n" "celery eventlet $n" "celery threads $n" \
	"celery prefork 16"; do
	read -r sys pool c <<<"$run"
	echo "perf-async: $sys -P $pool -c $c: $n tasks of 10 ms queued before the worker starts"
	flag=$work/$sys-$pool.published
	rm -f "$flag"
	client "$sys" queued "$n" "$flag" >"$work/$sys-$pool-queued.json" 2>"$work/$sys-$pool-queued.err" &
	client_pid=$!
	for ((i = 0; i < 600; i++)); do
		[ -e "$flag" ] && break
		kill -0 "$client_pid" 2>/dev/null || break
		tw_nap 0.1
	done
	worker_start "$sys" "$pool" "$c" || exit 1
	if wait "$client_pid"; then
		queued=$(cat "$work/$sys-$pool-queued.json")
	else
		echo "perf-async: $sys $pool queued run failed:"
		tail -5 "$work/$sys-$pool-queued.err"
		queued=
	fi
	client_pid=
	echo "perf-async:   $queued"
	echo "perf-async: $sys -P $pool -c $c: $rounds bursts of $n tasks of 10 ms"
	json=$(client "$sys" burst "$n" "$rounds") ||
		{ echo "perf-async: $sys $pool failed:"; tail -5 "$work/$sys-$pool-worker.log"; json=; }
	rss=$(peak_rss "$worker_pid")
	tw_stop_pid "$worker_pid"
	worker_pid=
	rows+=("$sys|$pool|$c|$rss|${queued:-null}|${json:-null}")
	echo "perf-async:   $json rss ${rss} kB"
done

"$py" - "$n" "$rounds" "$(nproc --all)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$credit" "${rows[@]}" \
	>"$out/async.md" <<'PY'
import json, sys
n, rounds, cpus, load, credit = sys.argv[1:6]
rows = []
for line in sys.argv[6:]:
    sysname, pool, c, rss, queued, burst = line.split("|")
    rows.append({"sys": sysname, "pool": pool, "c": int(c), "rss": int(rss or 0),
                 "queued": json.loads(queued or "null"), "burst": json.loads(burst or "null")})
tw = next((r for r in rows if r["sys"] == "taskwire"), None)
celery = [r for r in rows if r["sys"] == "celery"]


def best(key, measure):
    ok = [r for r in celery if r[key]]
    return min(ok, key=lambda r: r[key][measure]) if ok else None


def times(a, b):
    return "%.1fx" % (a / b) if a and b else "n/a"


print("# %s concurrent tasks of 10 ms: one taskwire asyncio worker vs Celery's pools (`make perf-async`)" % n)
print()
print("Same machine (%s CPUs, shared with other work, load average %s at the end:" % (cpus, load))
print("indicative, not a quiet-machine figure), same run. The task waits 10 ms: `await")
print("asyncio.sleep(0.01)` in an `async def` task on taskwire's `-P asyncio` worker (one process);")
print("`time.sleep(0.01)` in a Celery 5.2 task (patched by gevent and eventlet; in threads it releases")
print("the GIL), with a private Redis 7 as broker and result backend. Worker on CPU 1, publisher on")
print("CPU 0; prefetch multiplier 1 on both sides; Celery acks early (its default), taskwire after the")
print("run (its only mode). Peak RSS: the worker's VmHWM, its child processes included. Celery's")
print("prefork pool runs -c 16 (a process per slot: 1,000 would not fit this machine); its solo pool")
print("is left out (one task at a time: 1,000 x 10 ms is 10 s at least).")
print()
print("- **Queued**: %s tasks published while no worker runs, then the worker starts: the pool alone," % n)
print("  from the first task's start to the last one's end in the worker (one at a time: %s x 10 ms)." % n)
print("- **Burst**: the worker is up; one process publishes %s tasks in one burst and awaits every" % n)
print("  result (taskwire: `await asyncio.gather(...)`; Celery: `ResultSet.join_native`), median of")
print("  %s bursts: wall time from the first publish to the last result back, the publishing time" % rounds)
print("  within it, and each task's latency from just before its publish to its end in the worker.")
if int(credit) < int(n):
    print()
    print("The engine granted taskwire's worker a credit of %s deliveries in flight (its maximum per" % credit)
    print("consumer; the worker asked %s): at most %s of its %s slots were busy at once." % (n, credit, n))
print()
print("| system | pool | concurrency | queued: span (s) | queued: tasks/s | burst: wall for all results (s) | burst: tasks/s | burst: publish (s) | latency p50 (ms) | p99 (ms) | worker peak RSS (MiB) |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    q, b = r["queued"], r["burst"]
    qs = "%.3f | %.0f" % (q["span_s"], q["tasks_per_sec"]) if q else "failed | "
    bs = "%.3f | %.0f | %.3f | %.1f | %.1f" % (b["seconds"], b["tasks_per_sec"], b["publish_seconds"],
                                             b["p50_ms"], b["p99_ms"]) if b else "failed | | | |"
    print("| %s | %s | %d | %s | %s | %.1f |" % (r["sys"], r["pool"], r["c"], qs, bs, r["rss"] / 1024.0))
print()
bq, bb = best("queued", "span_s"), best("burst", "seconds")
if tw and tw["queued"] and bq:
    print("Queued, the pool alone: taskwire's span %s shorter than Celery's best pool here (%s -c %d)." % (
        times(bq["queued"]["span_s"], tw["queued"]["span_s"]), bq["pool"], bq["c"]))
if tw and tw["burst"] and bb:
    t, c = tw["burst"], bb["burst"]
    print("Burst, publisher included: taskwire's wall time %s shorter than Celery's best pool here "
          "(%s -c %d); its publishing %s shorter; peak RSS %s smaller. Latency p50/p99: taskwire "
          "%.0f/%.0f ms, Celery %.0f/%.0f ms: a task's latency counts its wait for the worker, and "
          "the faster a burst arrives the longer the last of it waits (Celery's publisher sends "
          "%.0f tasks/s, taskwire's %.0f)." % (
              times(c["seconds"], t["seconds"]), bb["pool"], bb["c"],
              times(c["publish_seconds"], t["publish_seconds"]), times(bb["rss"], tw["rss"]),
              t["p50_ms"], t["p99_ms"], c["p50_ms"], c["p99_ms"],
              c["tasks"] / c["publish_seconds"], t["tasks"] / t["publish_seconds"]))
print()
print("Raw: " + "; ".join("%s %s queued `%s` burst `%s`" % (r["sys"], r["pool"], json.dumps(r["queued"]),
                                                          json.dumps(r["burst"])) for r in rows))
PY
cat "$out/async.md"
