#!/usr/bin/env bash
# make perf-peers: the noop workload end to end (publish, run, result
# back) through Celery with Redis, Celery with RabbitMQ and NATS
# request-reply on this machine, next to taskwire in the same run, each as tasks/s and as
# taskwire's multiple of it. Installs the peers from Debian's packages;
# runs private instances on their own ports (never the system services)
# and stops them by PID. Writes perf/results/peers.md.
#   TW_PEER_TASKS  tasks per Celery run (default 20000)
set -uo pipefail
. "$(dirname "$0")/perf-lib.sh"
. "$(dirname "$0")/peers-lib.sh"

n=${TW_PEER_TASKS:-20000}
out=$TW_ROOT/perf/results
work=$TW_BUILD/run/peers
rdir=$work/rabbitmq
rm -rf "$work"
mkdir -p "$out" "$work"
py=/usr/bin/python3
pids=()
cleanup() {
	peers_stop
	for p in "${pids[@]}"; do tw_stop_pid "$p"; done
	if pgrep -f "nats-server -p 4230" >/dev/null; then
		echo "perf-peers: a peer process is still running" >&2
	fi
}
trap cleanup EXIT

install_peers() {
	bash "$TW_ROOT/perf/install-services.sh" redis-server rabbitmq-server python3-celery python3-redis nats-server
}

# One Celery run: worker (solo pool) on CPU 1, publisher on CPU 0.
celery_run() { # name broker backend
	local name=$1 broker=$2 backend=$3 wpid
	(cd "$TW_ROOT/perf/peers" && TW_PEER_BROKER=$broker TW_PEER_BACKEND=$backend \
		exec taskset -c 1 "$py" -m celery -A celery_bench worker --pool=solo --concurrency=1 \
		--without-heartbeat --without-gossip --without-mingle -l warning) >"$work/$name-worker.log" 2>&1 &
	wpid=$!
	pids+=("$wpid")
	(cd "$TW_ROOT/perf/peers" && TW_PEER_BROKER=$broker TW_PEER_BACKEND=$backend \
		timeout 600 taskset -c 0 "$py" celery_bench.py publish "$n") >"$work/$name.json" 2>"$work/$name.err"
	local rc=$?
	tw_stop_pid "$wpid"
	[ $rc -eq 0 ] || { echo "perf-peers: $name failed:"; tail -5 "$work/$name.err"; return 1; }
	grep -o '"tasks_per_sec": [0-9.]*' "$work/$name.json" | awk '{ print $2 }'
}

install_peers || { echo "perf-peers: cannot install the peers"; exit 1; }

# Redis and RabbitMQ, private (ports 6390 and 5680)
peers_redis_start 6390 "$work" || { echo "perf-peers: redis did not start"; exit 1; }
peers_rabbitmq_start twperf 5680 "$rdir" || { echo "perf-peers: rabbitmq did not start"; exit 1; }

echo "perf-peers: Celery + Redis, $n noop tasks"
redis_tps=$(celery_run celery-redis "redis://127.0.0.1:6390/0" "redis://127.0.0.1:6390/1") || redis_tps=0
echo "perf-peers: Celery + RabbitMQ, $n noop tasks"
rabbit_tps=$(celery_run celery-rabbitmq "amqp://guest:guest@127.0.0.1:5680//" "rpc://") || rabbit_tps=0

# NATS request-reply: a responder on CPU 1 answers each request (the task
# and its result), a requester on CPU 0 keeps 4096 in flight
nats-server -p 4230 -a 127.0.0.1 >"$work/nats.log" 2>&1 &
pids+=($!)
peers_wait_port 4230 20 || { echo "perf-peers: nats-server did not start"; exit 1; }
taskset -c 1 "$TW_BUILD/nats-bench" respond 4230 >"$work/nats-respond.log" 2>&1 &
resp=$!
pids+=("$resp")
sleep 0.3
echo "perf-peers: NATS request-reply, 1000000 requests"
nats_tps=$(timeout 120 taskset -c 0 "$TW_BUILD/nats-bench" request 4230 1000000 4096 |
	grep -o '"tasks_per_sec": [0-9.]*' | awk '{ print $2 }')
nats_tps=${nats_tps:-0}
tw_stop_pid "$resp"

# taskwire, same run: the DPDK load generator over memif, and one ordinary
# process through libtaskwire (kernel UDP over TAP), like the Celery publishers
perf_engine_start peerseng >/dev/null || { echo "perf-peers: engine did not start"; exit 1; }
dir=$TW_DIR
"$TW_BUILD/twctl" --socket "$dir/control.sock" queue declare bench >/dev/null
perf_loadgen "$dir" --duration 5 --tasks-per-frame 1 --args-size 64 --window 4096 \
	--json "$work/taskwire-memif.json" 2>/dev/null
tw_engine_stop "$dir"
tw_memif=$(grep -o '"results_per_sec": [0-9.]*' "$work/taskwire-memif.json" | awk '{ print $2 }')

# --poll-every 256: replies read in batches between 256 publishes (sendmmsg and
# recvmmsg carry them), as a loaded publisher would; nats-bench likewise
# gathers its requests into large TCP writes
tw_engine_start peerstap >/dev/null || { echo "perf-peers: TAP engine did not start"; exit 1; }
tdir=$TW_DIR
. "$tdir/engine.env"
"$TW_BUILD/twctl" --socket "$TW_SOCKET" queue declare bench >/dev/null
taskset -c 0 ip netns exec "$TW_NETNS" "$TW_BUILD/tw-publish-bench" --engine "$TW_ENGINE" \
	--queue bench --count 500000 --window 4096 --poll-every 256 --json >"$work/taskwire-tap.json" 2>/dev/null
# a Python worker (solo, CPU 1) and a Python publisher (CPU 0): the Celery rows' arrangement
"$TW_BUILD/twctl" --socket "$TW_SOCKET" queue declare pybench >/dev/null
bash "$TW_ROOT/clients/python/build.sh" "$TW_BUILD/python" >/dev/null
(cd "$TW_ROOT/perf/peers" && exec ip netns exec "$TW_NETNS" env TW_ENGINE="$TW_ENGINE" \
	TW_PYTHON_GEN="$TW_BUILD/python" PYTHONPATH="$TW_ROOT/clients/python" taskset -c 1 "$py" -B \
	-m taskwire worker -A taskwire_worker_bench -Q pybench -P solo --prefetch-multiplier 128 \
	-l warning) >"$work/taskwire-pyworker.log" 2>&1 &
pywpid=$!
pids+=("$pywpid")
tw_wait_for_line "$work/taskwire-pyworker.log" "taskwire worker: ready" "$pywpid" 30 ||
	{ echo "perf-peers: the Python worker did not start"; cat "$work/taskwire-pyworker.log"; exit 1; }
echo "perf-peers: taskwire Python worker, $n noop tasks"
tw_py=$(cd "$TW_ROOT/perf/peers" && TW_ENGINE=$TW_ENGINE TW_SOCKET=$TW_SOCKET \
	TW_PYTHON_GEN="$TW_BUILD/python" timeout 600 taskset -c 0 ip netns exec "$TW_NETNS" "$py" -B \
	taskwire_worker_bench.py publish "$n" | grep -o '"tasks_per_sec": [0-9.]*' | awk '{ print $2 }')
tw_py=${tw_py:-0}
tw_stop_pid "$pywpid"
tw_engine_stop "$tdir"
tw_tap=$(grep -o '"tasks_per_sec": [0-9.]*' "$work/taskwire-tap.json" | awk '{ print $2 }')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0fx", a / b; else print "n/a" }'; }
{
	echo "# taskwire and its peers, same machine, same run (\`make perf-peers\`)"
	echo
	echo "Workload: noop task, published, run, result back to the publisher. Celery: solo pool"
	echo "worker on CPU 1, publisher on CPU 0, $n tasks published with .delay() then every result"
	echo "awaited. NATS: responder on CPU 1, requester on CPU 0, 4096 requests in flight."
	echo "taskwire: engine on CPU 1, publisher on CPU 0."
	echo
	echo "| system | tasks/s | taskwire (memif) is | taskwire (kernel UDP, one process) is |"
	echo "| --- | ---: | ---: | ---: |"
	echo "| Celery 5.2 + Redis 7.0 | $redis_tps | $(ratio "$tw_memif" "$redis_tps") | $(ratio "$tw_tap" "$redis_tps") |"
	echo "| Celery 5.2 + RabbitMQ 3.10 (rpc results) | $rabbit_tps | $(ratio "$tw_memif" "$rabbit_tps") | $(ratio "$tw_tap" "$rabbit_tps") |"
	echo "| NATS 2.9 request-reply (nats-server) | $nats_tps | $(ratio "$tw_memif" "$nats_tps") | $(ratio "$tw_tap" "$nats_tps") |"
	echo "| taskwire, tw-loadgen over memif | $tw_memif | | |"
	echo "| taskwire, libtaskwire over kernel UDP/TAP | $tw_tap | | |"
	echo
	echo "Python task code on both sides: Celery's solo worker above against a taskwire Python"
	echo "worker (\`python3 -m taskwire worker -P solo\`, CPU 1) running the same noop body, $n"
	echo "tasks published from one Python process with .delay() and every result awaited (CPU 0)."
	echo
	echo "| worker | tasks/s | vs Celery + Redis | vs Celery + RabbitMQ |"
	echo "| --- | ---: | ---: | ---: |"
	echo "| taskwire Python worker (solo) | $tw_py | $(ratio "$tw_py" "$redis_tps") | $(ratio "$tw_py" "$rabbit_tps") |"
} >"$out/peers.md"
cat "$out/peers.md"
