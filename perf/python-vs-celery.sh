#!/usr/bin/env bash
# make perf-python: Python task code on taskwire next to Celery 5, same
# machine, same run, same task bodies, same client loop
# (perf/peers/timed_publish.py). Writes perf/results/python-vs-celery.md.
#
# 1. Workers: a taskwire Python worker (python3 -m taskwire worker,
#    -P solo and -P prefork -c 2) against Celery's worker with the same
#    pools, Celery once with Redis (broker and results) and once with
#    RabbitMQ (results over rpc://, Celery's usual pairing). Tasks: noop
#    and a 1 ms sleep. Throughput: N x task.delay(), every result awaited;
#    round trip: M tasks one after another, p50 and p99. Workers on CPU 1,
#    the publishing process on CPU 0.
# 2. Publishers: one Python process publishing confirmed tasks, taskwire's
#    client (one task per frame, and batched) against Celery's .delay() to
#    Redis (which returns once Redis has the message).
#
# Redis and RabbitMQ run privately (perf/peers-lib.sh); the engine is
# deploy/lib.sh's (id pyperf, TAP in its own namespace; the taskwire
# publisher and worker run inside it). Everything is stopped by PID.
#   TW_PY_TASKS         tasks per publisher run (default 20000)
#   TW_PY_WORKER_TASKS  noop tasks per worker run (default 4000; 1 ms: a quarter)
#   TW_PY_ROUNDTRIPS    round trips per latency run (default 300)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/deploy/lib.sh"
. "$root/perf/peers-lib.sh"

n=${TW_PY_TASKS:-20000}
wn=${TW_PY_WORKER_TASKS:-4000}
rt=${TW_PY_ROUNDTRIPS:-300}
py=/usr/bin/python3
work=$TW_BUILD/run/pyperf-peers  # not the engine's own folder (run/pyperf), which its start empties
out=$root/perf/results
peers=$root/perf/peers
redis_port=6391
rabbit_port=5681
engine_dir=
worker_pid=
cleanup() {
	[ -n "$worker_pid" ] && tw_stop_pid "$worker_pid"
	peers_stop
	[ -n "$engine_dir" ] && tw_engine_stop "$engine_dir"
}
trap cleanup EXIT

bash "$root/perf/install-services.sh" redis-server rabbitmq-server python3-celery python3-redis \
	python3-protobuf protobuf-compiler || exit 1
bash "$root/clients/python/build.sh" "$TW_BUILD/python" >/dev/null || exit 1
export TW_PYTHON_GEN=$TW_BUILD/python

rm -rf "$work"
mkdir -p "$work/rabbitmq" "$out"
peers_redis_start "$redis_port" "$work" || exit 1
peers_rabbitmq_start twpyperf "$rabbit_port" "$work/rabbitmq" || exit 1
tw_engine_start pyperf >/dev/null || { echo "perf-python: engine did not start"; exit 1; }
engine_dir=$TW_DIR
# shellcheck disable=SC1091
. "$engine_dir/engine.env"
"$TW_BUILD/twctl" --socket "$TW_SOCKET" queue declare pybench >/dev/null || exit 1

# worker_start SYSTEM POOL: SYSTEM taskwire | celery-redis | celery-rabbitmq; POOL solo | prefork
worker_start() {
	local sys=$1 pool=$2 c=1 log=$work/$1-$2-worker.log
	[ "$pool" = prefork ] && c=2
	case $sys in
	taskwire)
		(cd "$peers" && exec ip netns exec "$TW_NETNS" env TW_ENGINE="$TW_ENGINE" \
			PYTHONPATH="$root/clients/python" taskset -c 1 "$py" -B -m taskwire worker \
			-A taskwire_worker_bench -Q pybench -P "$pool" -c "$c" --prefetch-multiplier 128 \
			-l warning) >"$log" 2>&1 &
		worker_pid=$!
		tw_wait_for_line "$log" "taskwire worker: ready" "$worker_pid" 30 ||
			{ echo "perf-python: the taskwire worker did not start"; cat "$log"; return 1; } ;;
	celery-*)
		(cd "$peers" && eval "$(broker_env "$sys")" && exec taskset -c 1 "$py" -m celery \
			-A celery_bench worker --pool="$pool" --concurrency="$c" --without-heartbeat \
			--without-gossip --without-mingle -l warning) >"$log" 2>&1 &
		worker_pid=$! ;;
	esac
}
broker_env() {
	case $1 in
	celery-redis) echo "export TW_PEER_BROKER=redis://127.0.0.1:$redis_port/0 TW_PEER_BACKEND=redis://127.0.0.1:$redis_port/1" ;;
	celery-rabbitmq) echo "export TW_PEER_BROKER=amqp://guest:guest@127.0.0.1:$rabbit_port// TW_PEER_BACKEND=rpc://" ;;
	esac
}
# client SYSTEM ARGS...: the publishing process on CPU 0; prints its JSON line
client() {
	local sys=$1; shift
	case $sys in
	taskwire)
		(cd "$peers" && TW_ENGINE=$TW_ENGINE TW_SOCKET=$TW_SOCKET timeout 600 taskset -c 0 \
			ip netns exec "$TW_NETNS" "$py" -B taskwire_worker_bench.py "$@") ;;
	celery-*)
		(cd "$peers" && eval "$(broker_env "$sys")" && timeout 600 taskset -c 0 "$py" -B \
			celery_bench.py "$@") ;;
	esac
}
# a number from a JSON line, or "-" (a failed run keeps its row's columns)
field() { grep -o "\"$1\": [0-9.]*" <<<"$2" | awk '{ v = $2 } END { print (v == "" ? "-" : v) }'; }

rows=()
for task in noop sleep1ms; do
	count=$wn
	[ "$task" = sleep1ms ] && count=$((wn / 4))
	for pool in solo prefork; do
		for sys in taskwire celery-redis celery-rabbitmq; do
			echo "perf-python: $sys, -P $pool, $task: $count tasks, $rt round trips"
			worker_start "$sys" "$pool" || exit 1
			tput=$(client "$sys" publish "$count" "$task") || { echo "perf-python: $sys $pool $task failed"; tput=; }
			lat=$(client "$sys" latency "$rt" "$task") || { echo "perf-python: $sys $pool $task latency failed"; lat=; }
			tw_stop_pid "$worker_pid"
			worker_pid=
			rows+=("$task $pool $sys $(field tasks_per_sec "$tput") $(field p50_us "$lat") $(field p99_us "$lat")")
			echo "perf-python:   ${rows[-1]}"
		done
	done
done

echo "perf-python: publishers, $n noop tasks each"
celery_pub=$(cd "$peers" && eval "$(broker_env celery-redis)" && timeout 600 taskset -c 0 "$py" \
	python_publish.py celery "$n") || { echo "perf-python: the Celery publisher failed"; exit 1; }
tw_pub=$(TW_ENGINE=$TW_ENGINE TW_SOCKET=$TW_SOCKET timeout 600 taskset -c 0 ip netns exec "$TW_NETNS" \
	"$py" "$peers/python_publish.py" taskwire "$n") || { echo "perf-python: the taskwire publisher failed"; exit 1; }
twb_pub=$(TW_ENGINE=$TW_ENGINE TW_SOCKET=$TW_SOCKET timeout 600 taskset -c 0 ip netns exec "$TW_NETNS" \
	"$py" "$peers/python_publish.py" taskwire "$n" --batch) ||
	{ echo "perf-python: the taskwire batch publisher failed"; exit 1; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.1fx", a / b; else print "n/a" }'; }
{
	echo "# Python task code: taskwire next to Celery 5 (\`make perf-python\`)"
	echo
	echo "Same machine, same run, same task bodies (\`perf/peers/celery_bench.py\`,"
	echo "\`perf/peers/taskwire_worker_bench.py\`), same client loop (\`perf/peers/timed_publish.py\`)."
	echo "Worker on CPU 1 (\`-P solo\`, or \`-P prefork -c 2\` with both children on CPU 1), the"
	echo "publishing process on CPU 0. Throughput: $wn noop tasks ($((wn / 4)) of the 1 ms task)"
	echo "sent with .delay(), then every result awaited. Round trip: $rt tasks one after another."
	echo "Celery 5.2 with a private Redis 7 (broker and results) and with a private RabbitMQ 3.10"
	echo "(results over rpc://); prefetch multiplier 128 on both sides, acks early on Celery's"
	echo "(its default), after the run on taskwire's (its only mode: stronger, not cheaper)."
	echo
	echo "| task | pool | system | tasks/s | round trip p50 (us) | p99 (us) | taskwire's tasks/s is | its p50 is |"
	echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"
	# rows: task pool system tasks/s p50 p99 ("-" where a run failed)
	printf '%s\n' "${rows[@]}" | awk '
		function ratio(a, b) { return (a > 0 && b > 0) ? sprintf("%.1fx", a / b) : "n/a" }
		{ t[NR] = $1; p[NR] = $2; s[NR] = $3; r[NR] = $4; p50[NR] = $5; p99[NR] = $6
		  if ($3 == "taskwire") { twr[$1 " " $2] = $4; twp[$1 " " $2] = $5 } }
		END { for (i = 1; i <= NR; i++) {
			k = t[i] " " p[i]
			extra = s[i] == "taskwire" ? " | |" : " | " ratio(twr[k], r[i]) " | " ratio(p50[i], twp[k]) " lower |"
			printf "| %s | %s | %s | %s | %s | %s%s\n", t[i], p[i], s[i], (r[i] == "-" ? "failed" : r[i]),
				p50[i], p99[i], extra } }'
	echo
	echo "One Python process publishing $n confirmed noop tasks (CPU 0; no worker needed):"
	echo
	echo "| publisher | tasks/s | vs Celery |"
	echo "| --- | ---: | ---: |"
	c=$(field tasks_per_sec "$celery_pub")
	echo "| Celery .delay() to Redis | $c | 1.0x |"
	echo "| taskwire .delay(), one task per frame | $(field tasks_per_sec "$tw_pub") | $(ratio "$(field tasks_per_sec "$tw_pub")" "$c") |"
	echo "| taskwire .delay() in client.batch() | $(field tasks_per_sec "$twb_pub") | $(ratio "$(field tasks_per_sec "$twb_pub")" "$c") |"
} | tee "$out/python-vs-celery.md"
