#!/usr/bin/env bash
# make perf-amqp: the same pika client (perf/amqp/pika_bench.py) through
# tw-amqp in front of a taskwire engine and against a private RabbitMQ
# node (Debian's rabbitmq-server, started as make perf-peers does), same
# run, same machine: publish with confirms (rate, confirm latency),
# pipelined publish, consume with acks; transient and durable; then
# Celery noop tasks/s end to end with each as the broker (Redis results).
# Writes perf/results/amqp.md.
#   TW_AMQP_MESSAGES  messages per scenario (default 5000)
#   TW_AMQP_SIZE      message body bytes (default 100)
#   TW_AMQP_TASKS     Celery tasks per run (default 3000)
#   TW_AMQP_BEFORE    another tw-amqp binary (e.g. main's before a change):
#                     then the transient consume and Celery rows run again,
#                     TW_AMQP_REPS times (default 3) in turn through this
#                     tw-amqp, that one (same engine) and RabbitMQ, medians
#                     in a second table (before/after in one run)
set -uo pipefail
. "$(dirname "$0")/perf-lib.sh"
. "$(dirname "$0")/peers-lib.sh"

n=${TW_AMQP_MESSAGES:-5000}
size=${TW_AMQP_SIZE:-100}
tasks=${TW_AMQP_TASKS:-3000}
out=$TW_ROOT/perf/results
work=$TW_BUILD/run/amqpbench
rm -rf "$work"
mkdir -p "$out" "$work"
py=/usr/bin/python3
tw_port=5690
rabbit_port=5681
redis_port=6392
pids=()
edir=
cleanup() {
	peers_stop
	for p in "${pids[@]}"; do tw_stop_pid "$p"; done
	[ -n "$edir" ] && tw_engine_stop "$edir"
}
trap cleanup EXIT

bash "$TW_ROOT/perf/install-services.sh" rabbitmq-server redis-server python3-pika \
	python3-celery python3-redis || { echo "perf-amqp: cannot install the peers"; exit 1; }

tw_engine_start amqpbench >/dev/null || { echo "perf-amqp: engine did not start"; exit 1; }
edir=$TW_DIR
# shellcheck disable=SC1091
. "$edir/engine.env"
"$TW_BUILD/tw-amqp" --engine "$TW_ENGINE" --socket "$TW_SOCKET" --netns "$TW_NETNS" \
	--listen "127.0.0.1:$tw_port" >"$work/tw-amqp.log" 2>&1 &
pids+=($!)
peers_wait_port "$tw_port" 20 || { echo "perf-amqp: tw-amqp did not start"; cat "$work/tw-amqp.log"; exit 1; }
before=${TW_AMQP_BEFORE:-}
reps=${TW_AMQP_REPS:-3}
before_port=5691
if [ -n "$before" ]; then
	"$before" --engine "$TW_ENGINE" --socket "$TW_SOCKET" --netns "$TW_NETNS" \
		--listen "127.0.0.1:$before_port" >"$work/tw-amqp-before.log" 2>&1 &
	pids+=($!)
	peers_wait_port "$before_port" 20 ||
		{ echo "perf-amqp: $before did not start"; cat "$work/tw-amqp-before.log"; exit 1; }
fi
peers_rabbitmq_start twamqp "$rabbit_port" "$work/rabbitmq" ||
	{ echo "perf-amqp: rabbitmq did not start"; exit 1; }
peers_redis_start "$redis_port" "$work" || { echo "perf-amqp: redis did not start"; exit 1; }

run_pika() { # name port mode [consume]
	echo "perf-amqp: pika against $1 ($3), $n messages of $size bytes" >&2
	timeout 600 taskset -c 0 "$py" -B "$TW_ROOT/perf/amqp/pika_bench.py" 127.0.0.1 "$2" "$n" \
		"$size" "$3" ${4:-} >"$work/$1-$3.json" 2>"$work/$1-$3.err" ||
		{ echo "perf-amqp: $1 $3 failed:" >&2; tail -5 "$work/$1-$3.err" >&2; }
}
for mode in transient durable; do
	run_pika taskwire "$tw_port" "$mode"
	run_pika rabbitmq "$rabbit_port" "$mode"
done

# Celery end to end: the solo worker of make perf-peers on CPU 1, the publisher on CPU 0
celery_run() { # name broker
	local name=$1 broker=$2 wpid
	(cd "$TW_ROOT/perf/peers" && TW_PEER_BROKER=$broker \
		TW_PEER_BACKEND="redis://127.0.0.1:$redis_port/1" exec taskset -c 1 "$py" -m celery \
		-A celery_bench worker --pool=solo --concurrency=1 --without-heartbeat --without-gossip \
		--without-mingle -l warning) >"$work/$name-worker.log" 2>&1 &
	wpid=$!
	pids+=("$wpid")
	(cd "$TW_ROOT/perf/peers" && TW_PEER_BROKER=$broker \
		TW_PEER_BACKEND="redis://127.0.0.1:$redis_port/1" timeout 600 taskset -c 0 "$py" \
		celery_bench.py publish "$tasks") >"$work/$name.json" 2>"$work/$name.err"
	local rc=$?
	tw_stop_pid "$wpid"
	[ $rc -eq 0 ] || { echo "perf-amqp: $name failed:" >&2; tail -5 "$work/$name.err" >&2; echo 0; return; }
	grep -o '"tasks_per_sec": [0-9.]*' "$work/$name.json" | awk '{ print $2 }'
}
echo "perf-amqp: Celery through tw-amqp, $tasks noop tasks"
celery_tw=$(celery_run celery-taskwire "amqp://guest:guest@127.0.0.1:$tw_port//")
echo "perf-amqp: Celery through RabbitMQ, $tasks noop tasks"
celery_rabbit=$(celery_run celery-rabbitmq "amqp://guest:guest@127.0.0.1:$rabbit_port//")

# Before/after in one run: consume and Celery through each, in turn
if [ -n "$before" ]; then
	for ((r = 1; r <= reps; r++)); do
		for who in now:$tw_port before:$before_port rabbitmq:$rabbit_port; do
			name=${who%%:*} port=${who#*:}
			run_pika "cmp-$name-$r" "$port" transient consume
			echo "perf-amqp: Celery through $name ($r of $reps)"
			celery_run "cmp-celery-$name-$r" "amqp://guest:guest@127.0.0.1:$port//" \
				>"$work/cmp-celery-$name-$r.rate"
		done
	done
fi

field() { # file scenario key
	grep "\"scenario\": \"$2\"" "$1" 2>/dev/null | grep -o "\"$3\": [0-9.]*" | awk '{ print $2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
{
	echo "# AMQP 0-9-1: tw-amqp in front of taskwire next to RabbitMQ (\`make perf-amqp\`)"
	echo
	echo "Same run, same machine, same client (pika 1.3, Debian), $n messages of $size bytes per"
	echo "row, client on CPU 0. publish-confirm: one message in flight, its confirm awaited"
	echo "(BlockingChannel); pipelined: published without confirms until the queue holds them"
	echo "all; consume: manual acks, prefetch 100. RabbitMQ 3.10 private node, classic queue"
	echo "(durable rows: durable queue, delivery_mode 2). tw-amqp: the engine's queues are"
	echo "in memory whatever the flag says."
	echo
	echo "| row | tw-amqp msgs/s | RabbitMQ msgs/s | tw-amqp / RabbitMQ | confirm p50 / p99 µs (tw-amqp) | (RabbitMQ) |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: |"
	for mode in transient durable; do
		for sc in publish-confirm publish-pipelined consume; do
			a=$(field "$work/taskwire-$mode.json" "$sc" msgs_per_sec)
			b=$(field "$work/rabbitmq-$mode.json" "$sc" msgs_per_sec)
			la="" lb=""
			if [ "$sc" = publish-confirm ]; then
				la="$(field "$work/taskwire-$mode.json" "$sc" confirm_p50_us) / $(field "$work/taskwire-$mode.json" "$sc" confirm_p99_us)"
				lb="$(field "$work/rabbitmq-$mode.json" "$sc" confirm_p50_us) / $(field "$work/rabbitmq-$mode.json" "$sc" confirm_p99_us)"
			fi
			echo "| $sc, $mode | ${a:-0} | ${b:-0} | $(ratio "${a:-0}" "${b:-0}") | $la | $lb |"
		done
	done
	echo "| Celery noop tasks/s end to end (solo worker, Redis results) | $celery_tw | $celery_rabbit | $(ratio "$celery_tw" "$celery_rabbit") | | |"
	echo
	if [ -n "$before" ]; then
		echo
		echo "Before/after, same run: transient consume and Celery through this tw-amqp (now),"
		echo "\`$before\` (before, same engine) and RabbitMQ, $reps times in turn; medians (all runs)."
		echo
		echo "| row | now | before | RabbitMQ | now / RabbitMQ | before / RabbitMQ |"
		echo "| --- | ---: | ---: | ---: | ---: | ---: |"
		for row in consume celery; do
			declare -A med=() all=()
			for name in now before rabbitmq; do
				vals=()
				for ((r = 1; r <= reps; r++)); do
					if [ "$row" = consume ]; then
						v=$(field "$work/cmp-$name-$r-transient.json" consume msgs_per_sec)
					else
						v=$(cat "$work/cmp-celery-$name-$r.rate" 2>/dev/null)
					fi
					vals+=("${v:-0}")
				done
				med[$name]=$(printf '%s\n' "${vals[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
				all[$name]=$(IFS=,; echo "${vals[*]}")
			done
			label="consume msgs/s, transient"
			[ "$row" = celery ] && label="Celery noop tasks/s end to end"
			echo "| $label | ${med[now]} (${all[now]}) | ${med[before]} (${all[before]}) | ${med[rabbitmq]} (${all[rabbitmq]}) | $(ratio "${med[now]}" "${med[rabbitmq]}") | $(ratio "${med[before]}" "${med[rabbitmq]}") |"
			unset med all
		done
	fi
	echo
	echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')),"
	echo "$(date -u +%Y-%m-%d). Figures from a machine shared with other jobs are indicative."
} >"$out/amqp.md"
cat "$out/amqp.md"
