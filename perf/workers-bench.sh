#!/usr/bin/env bash
# make perf-workers: the same noop tasks, from one tw-publish-bench
# (libtaskwire over kernel UDP, closed loop), run by
#   - the engine's own lcore (in-engine worker),
#   - one tw-worker process (C plugins outside the engine: remote consumer),
#   - one Python worker (python3 -m taskwire worker, -P threads -c 1 and
#     -P prefork -c 2),
# in one run on one engine (TAP, in its namespace), each on its own queue.
# Tasks/s and publish -> result p50/p99, and each against the in-engine
# figure of the same run. Writes perf/results/workers.md.
#   TW_PERF_COUNT  tasks per scenario (default 200000; Python ones a tenth)
set -uo pipefail
. "$(dirname "$0")/perf-lib.sh"

count=${TW_PERF_COUNT:-200000}
pycount=$((count / 10))
out=$TW_ROOT/perf/results
mkdir -p "$out"
tw_engine_start perfwork >/dev/null || { echo "perf-workers: engine did not start"; exit 1; }
dir=$TW_DIR
. "$dir/engine.env"
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do tw_stop_pid "$p" || true; done
	tw_engine_stop "$dir"
}
trap cleanup EXIT
twctl() { "$TW_BUILD/twctl" --socket "$TW_SOCKET" "$@" >/dev/null; }
bash "$TW_ROOT/clients/python/build.sh" "$TW_BUILD/python" >/dev/null
export TW_PYTHON_GEN=$TW_BUILD/python PYTHONPATH=$TW_ROOT/clients/python:$TW_ROOT/perf/workers

# start_worker LOG CMD...: a worker in the namespace, ready when LOG says so
start_worker() {
	local log=$1 pattern=$2; shift 2
	ip netns exec "$TW_NETNS" "$@" >"$log" 2>&1 &
	pids+=($!)
	tw_wait_for_line "$log" "$pattern" "$!" 30 || { echo "perf-workers: worker: $(cat "$log")"; exit 1; }
}

rows=()
bench() { # name queue count
	local name=$1 q=$2 n=$3 json=$dir/$1.json
	ip netns exec "$TW_NETNS" taskset -c 0 "$TW_BUILD/tw-publish-bench" --engine "$TW_ENGINE" \
		--queue "$q" --count "$n" --window 256 --json >"$json" 2>"$dir/$name.err" ||
		{ echo "perf-workers: $name: $(tail -3 "$dir/$name.err") $(cat "$json")"; return 1; }
	local tps p50 p99
	tps=$(perf_field "$json" tasks_per_sec)
	p50=$(perf_field "$json" result_p50_us)
	p99=$(perf_field "$json" result_p99_us)
	rows+=("$name $tps $p50 $p99")
	echo "perf-workers: $name: $tps tasks/s, result p50 $p50 us, p99 $p99 us"
}

twctl queue declare w-engine
bench in-engine w-engine "$count"

twctl queue declare w-tw-worker
start_worker "$dir/tw-worker.log" "tw-worker: ready" taskset -c 0 "$TW_BUILD/tw-worker" \
	--engine "$TW_ENGINE" -Q w-tw-worker -c 1 --prefetch 256
bench tw-worker-c1 w-tw-worker "$count"

twctl queue declare w-py-threads
start_worker "$dir/py-threads.log" "taskwire worker: ready" taskset -c 0 env TW_ENGINE="$TW_ENGINE" \
	/usr/bin/python3 -B -m taskwire worker -A bench_tasks -Q w-py-threads -P threads -c 1 \
	--prefetch-multiplier 256 -l warning
bench python-threads-c1 w-py-threads "$pycount"

twctl queue declare w-py-prefork
start_worker "$dir/py-prefork.log" "taskwire worker: ready" taskset -c 0 env TW_ENGINE="$TW_ENGINE" \
	/usr/bin/python3 -B -m taskwire worker -A bench_tasks -Q w-py-prefork -P prefork -c 2 \
	--prefetch-multiplier 128 -l warning
bench python-prefork-c2 w-py-prefork "$pycount"

base=$(echo "${rows[0]}" | awk '{ print $2 }')
{
	echo "# taskwire: who runs the task"
	echo
	echo "noop tasks from one tw-publish-bench (libtaskwire, kernel UDP, 256 in flight) on CPU 0;"
	echo "engine on a TAP port, its polling lcore on CPU 1; workers on CPU 0 beside the publisher."
	echo "Same run, same engine, a queue each. Command: \`make perf-workers\`."
	echo
	echo "| runs the task | tasks/s | of in-engine | result p50 (us) | result p99 (us) |"
	echo "| --- | ---: | ---: | ---: | ---: |"
	for r in "${rows[@]}"; do
		echo "$r" | awk -v b="$base" '{ printf "| %s | %.0f | %.2f | %s | %s |\n", $1, $2, (b > 0 ? $2 / b : 0), $3, $4 }'
	done
} >"$out/workers.md"
cat "$out/workers.md"
