#!/usr/bin/env bash
# Unchanged kombu and Celery (Debian's python3-kombu, python3-celery) with
# tw-amqp as their broker: kombu's SimpleQueue; a Celery app whose only
# broker setting is broker_url=amqp://guest:guest@127.0.0.1:PORT// and
# whose results go to a private redis-server: delay(), countdown, retries,
# a chain, a group, a chord, `celery inspect ping` (fanout pidbox exchange,
# reply queues), and a -P prefork -c 2 worker killed with SIGKILL mid-task
# (acks_late): the task is redelivered to the second worker, told to take
# its queue by a remote-control add_consumer, and finishes there; then
# `celery control shutdown` stops that worker.
#
# Time: the two workers start together (and kombu's scenario beside
# them), inspect ping runs beside the basics; about half of what one
# worker after the other took.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/amqp/amqp_lib.sh"
work=$TW_DIR/celery
mkdir -p "$work"
redis_port=6391
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	amqp_stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
t_start=$(date +%s.%N)
elapsed() {
	awk -v a="$t_start" -v b="$(date +%s.%N)" -v w="$1" 'BEGIN { printf "[%5.1f s] %s\n", b - a, w }'
}
amqp_start
ip netns exec "$TW_NETNS" redis-server --port "$redis_port" --bind 127.0.0.1 --save "" \
	--appendonly no --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!)

export AMQP_URL="amqp://guest:guest@127.0.0.1:$AMQP_PORT//"
export REDIS_URL="redis://127.0.0.1:$redis_port/0"
export WORK=$work PYTHONPATH=$here/amqp
host=$(hostname)

# kombu's scenario beside the workers' start (its own queue)
amqp_py "$here/amqp/kombu_simple.py" >"$work/kombu.log" 2>&1 &
kombu_pid=$!
pids+=($kombu_pid)

# a worker in its own process group (setsid: SIGKILL reaches the pool too)
start_worker() {
	local name=$1 queues=$2
	ip netns exec "$TW_NETNS" env AMQP_URL="$AMQP_URL" REDIS_URL="$REDIS_URL" \
		PYTHONPATH="$here/amqp" setsid /usr/bin/python3 -B -m celery -A celery_app worker \
		-P prefork -c 2 -n "$name@%h" -Q "$queues" --without-mingle --without-gossip \
		-l INFO >"$work/$name.log" 2>&1 &
	pids+=($!)
	eval "${name}_pid=$!"
}
wait_ready() {
	local name=$1 pid
	eval "pid=\$${name}_pid"
	for _ in $(seq 300); do
		grep -q "ready\." "$work/$name.log" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$work/$name.log"
	amqp_fail "celery worker $name did not become ready"
}
celery_cli() {
	ip netns exec "$TW_NETNS" env AMQP_URL="$AMQP_URL" REDIS_URL="$REDIS_URL" \
		PYTHONPATH="$here/amqp" timeout 60 /usr/bin/python3 -B -m celery -A celery_app "$@"
}

# w1 also takes the queue of the task it will be killed in; w2 does not, yet
start_worker w1 celery,tw.kill
start_worker w2 celery
wait "$kombu_pid" || { cat "$work/kombu.log"; amqp_fail "kombu SimpleQueue"; }
cat "$work/kombu.log"
elapsed "kombu SimpleQueue"
wait_ready w1
wait_ready w2
elapsed "two workers ready"

# inspect ping (the CLI, pidbox and reply queues) beside the basics
t0=$(date +%s.%N)
celery_cli inspect ping -t 5 -d "w1@$host" >"$work/ping.log" 2>&1 &
ping_pid=$!
amqp_py "$here/amqp/celery_driver.py" basics || { cat "$work/w1.log" "$work/w2.log"; amqp_fail "celery basics"; }
elapsed "basics"
wait "$ping_pid" || { cat "$work/ping.log"; amqp_fail "celery inspect ping"; }
cat "$work/ping.log"
grep -q "pong" "$work/ping.log" || amqp_fail "inspect ping: no pong"
awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "inspect ping answered in %.1f s\n", b - a }'

# kill -9 mid-task: the AMQP connection drops, the engine takes the task back
amqp_py "$here/amqp/celery_driver.py" kill_start || amqp_fail "slow task not published"
for _ in $(seq 200); do
	grep -q "^start" "$work/slow" 2>/dev/null && break
	sleep 0.05
done
grep -q "^start" "$work/slow" || { cat "$work/w1.log"; amqp_fail "slow task did not start"; }
kill -KILL -- "-$w1_pid"
wait "$w1_pid" 2>/dev/null || true
elapsed "w1 killed mid-task"
amqp_py_env W2="w2@$host" -- "$here/amqp/celery_driver.py" kill_finish ||
	{ cat "$work/w2.log"; amqp_fail "kill -9"; }
elapsed "redelivered task done on w2"
# remote control through the pidbox: the worker stops on its own
out=$(celery_cli control shutdown -t 1 -d "w2@$host" 2>&1) || true
echo "$out"
for _ in $(seq 150); do
	kill -0 "$w2_pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$w2_pid" 2>/dev/null; then
	cat "$work/w2.log"
	amqp_fail "celery control shutdown: the worker still runs"
fi
wait "$w2_pid" || amqp_fail "worker w2 exited with an error after control shutdown"
elapsed "control shutdown"
cleanup
trap - EXIT
cat "$AMQP_LOG"
echo "amqp_celery_test: all passed"
