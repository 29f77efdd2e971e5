#!/usr/bin/env bash
# make perf-durable: durable publishing with confirms, same run, same
# machine, same disk (build/run): taskwire's durable queue (journal, group
# commit) next to its in-memory queue and to RabbitMQ's durable queue
# (Debian's rabbitmq-server, a private node as make perf-amqp starts it;
# persistent messages, publisher confirms). Both publishers keep W
# messages unconfirmed (1 and 64) into a queue nothing consumes meanwhile,
# so a confirm is the broker's word that the message is kept (on disk for
# the durable rows): tw-publish-bench --confirm-window on libtaskwire and
# perf/durable/rabbit_confirm.py on pika. A second table has taskwire's
# tasks run by the engine, W tasks without a result outstanding (a result
# that comes before the durable ACK implies it there, so its confirm
# latency is not the journal's).
# The disk's own fdatasync latency is measured in the same directory.
# Writes perf/results/durable.md.
#   TW_DURABLE_TASKS   tasks / messages per row (default 10000; a tenth at W=1)
set -uo pipefail
. "$(dirname "$0")/peers-lib.sh"
. "$(dirname "$0")/../deploy/lib.sh"

n=${TW_DURABLE_TASKS:-10000}
n1=$((n / 10))
size=100
out=$TW_ROOT/perf/results
work=$TW_BUILD/run/durbench
rabbit_port=5683
py=/usr/bin/python3
edir=
rm -rf "$work"
mkdir -p "$out" "$work/data"
cleanup() {
	peers_stop
	[ -n "$edir" ] && tw_engine_stop "$edir"
	rm -rf "$work/data"
}
trap cleanup EXIT

bash "$TW_ROOT/perf/install-services.sh" rabbitmq-server python3-pika ||
	{ echo "perf-durable: cannot install RabbitMQ"; exit 1; }

TW_DATA_DIR=$work/data tw_engine_start durbench >/dev/null ||
	{ echo "perf-durable: engine did not start"; exit 1; }
edir=$TW_DIR
# shellcheck disable=SC1091
. "$edir/engine.env"
# dq, mq: tasks wait (no consumer: confirms only); rdq, rmq: the engine runs them
tc() { "$TW_BUILD/twctl" --socket "$TW_SOCKET" "$@" >/dev/null; }
tc queue declare dq --durable --consumers remote && tc queue declare mq --consumers remote &&
	tc queue declare rdq --durable && tc queue declare rmq ||
	{ echo "perf-durable: queues not declared"; exit 1; }

bench() { # queue window count [tw-publish-bench options]
	local q=$1 w=$2 c=$3
	shift 3
	echo "perf-durable: taskwire queue $q, window $w, $c tasks $*" >&2
	timeout 300 ip netns exec "$TW_NETNS" "$TW_BUILD/tw-publish-bench" --engine "$TW_ENGINE" \
		--queue "$q" --task noop --count "$c" --window "$w" --json "$@" 2>"$work/tw-$q-$w.err" |
		tail -1 >"$work/tw-$q-$w.json"
}
bench mq 64 "$n" --confirm-window
bench dq 64 "$n" --confirm-window
bench mq 1 "$n1" --confirm-window
bench dq 1 "$n1" --confirm-window
bench rmq 64 "$n"
bench rdq 64 "$n"
bench rmq 1 "$n1"
bench rdq 1 "$n1"
syncs=$("$TW_BUILD/twctl" --socket "$TW_SOCKET" status --json | $py -c \
	"import json,sys; print(json.load(sys.stdin)['control'].get('journal_syncs', 0))")
echo "perf-durable: the disk's fdatasync" >&2
$py "$TW_ROOT/perf/durable/fsync_probe.py" "$work/data" 500 >"$work/fsync.json"

peers_rabbitmq_start twdurable "$rabbit_port" "$work/rabbitmq" ||
	{ echo "perf-durable: rabbitmq did not start"; exit 1; }
for w in 64 1; do
	c=$n
	[ "$w" = 1 ] && c=$n1
	echo "perf-durable: RabbitMQ durable queue, window $w, $c messages" >&2
	timeout 400 $py -B "$TW_ROOT/perf/durable/rabbit_confirm.py" 127.0.0.1 "$rabbit_port" "$c" \
		"$size" "$w" >"$work/rabbit-$w.json" 2>"$work/rabbit-$w.err" ||
		{ echo "perf-durable: RabbitMQ window $w failed:" >&2; tail -5 "$work/rabbit-$w.err" >&2; }
done

f() { grep -o "\"$2\": [0-9.]*" "$1" 2>/dev/null | head -1 | awk '{ print $2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
row() { # label json rate-key
	echo "| $1 | $(f "$2" "$3") | $(f "$2" confirm_p50_us) | $(f "$2" confirm_p99_us) |"
}
{
	echo "# Durable publishing with confirms: taskwire next to RabbitMQ (\`make perf-durable\`)"
	echo
	echo "Same run, same machine, same disk ($(df --output=source "$work" | tail -1),"
	echo "$(findmnt -no FSTYPE -T "$work")). Publishers with confirms, W messages unconfirmed, into"
	echo "a queue nothing consumes meanwhile; rate = confirmed per second. taskwire:"
	echo "tw-publish-bench --confirm-window (libtaskwire, kernel UDP) to a TAP engine, noop"
	echo "tasks (name and arguments); the durable queue's ACK waits for its record's"
	echo "fdatasync (group commit: --journal-commit-us 50, one fdatasync per batch, $syncs"
	echo "syncs in this run). RabbitMQ $(dpkg-query -W -f='${Version}' rabbitmq-server): private node, classic"
	echo "durable queue, delivery_mode 2, publisher confirms, pika SelectConnection,"
	echo "$size-byte bodies."
	echo
	echo "| row | confirmed per second | confirm p50 µs | confirm p99 µs |"
	echo "| --- | ---: | ---: | ---: |"
	row "taskwire in-memory queue, W=64" "$work/tw-mq-64.json" tasks_per_sec
	row "taskwire durable queue, W=64" "$work/tw-dq-64.json" tasks_per_sec
	row "RabbitMQ durable queue, W=64" "$work/rabbit-64.json" msgs_per_sec
	row "taskwire in-memory queue, W=1" "$work/tw-mq-1.json" tasks_per_sec
	row "taskwire durable queue, W=1" "$work/tw-dq-1.json" tasks_per_sec
	row "RabbitMQ durable queue, W=1" "$work/rabbit-1.json" msgs_per_sec
	echo
	echo "taskwire's tasks run by the engine (noop), W tasks without a result outstanding;"
	echo "rate = tasks with a result per second. A result can come before a durable"
	echo "task's ACK (the task ran while its record was syncing) and then implies the"
	echo "confirm, so this confirm latency is not the journal's: the table above has it."
	echo
	echo "| row | results per second | confirm p50 µs | confirm p99 µs |"
	echo "| --- | ---: | ---: | ---: |"
	row "taskwire in-memory queue, W=64" "$work/tw-rmq-64.json" tasks_per_sec
	row "taskwire durable queue, W=64" "$work/tw-rdq-64.json" tasks_per_sec
	row "taskwire in-memory queue, W=1" "$work/tw-rmq-1.json" tasks_per_sec
	row "taskwire durable queue, W=1" "$work/tw-rdq-1.json" tasks_per_sec
	echo
	echo "The disk's own fdatasync (4 KiB appended, 500 times, same directory):" \
		"p50 $(f "$work/fsync.json" fdatasync_p50_us) µs, p99 $(f "$work/fsync.json" fdatasync_p99_us) µs."
	echo
	echo "taskwire durable / RabbitMQ durable: W=64" \
		"$(ratio "$(f "$work/tw-dq-64.json" tasks_per_sec)" "$(f "$work/rabbit-64.json" msgs_per_sec)")," \
		"W=1 $(ratio "$(f "$work/tw-dq-1.json" tasks_per_sec)" "$(f "$work/rabbit-1.json" msgs_per_sec)")."
	echo "taskwire durable / in-memory, confirmed: W=64" \
		"$(ratio "$(f "$work/tw-dq-64.json" tasks_per_sec)" "$(f "$work/tw-mq-64.json" tasks_per_sec)")," \
		"W=1 $(ratio "$(f "$work/tw-dq-1.json" tasks_per_sec)" "$(f "$work/tw-mq-1.json" tasks_per_sec)");" \
		"with results: W=64" \
		"$(ratio "$(f "$work/tw-rdq-64.json" tasks_per_sec)" "$(f "$work/tw-rmq-64.json" tasks_per_sec)")," \
		"W=1 $(ratio "$(f "$work/tw-rdq-1.json" tasks_per_sec)" "$(f "$work/tw-rmq-1.json" tasks_per_sec)")."
	echo
	echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')),"
	echo "$(date -u +%Y-%m-%d), load average $(cut -d' ' -f1-3 /proc/loadavg). Figures from a"
	echo "machine shared with other jobs are indicative."
} >"$out/durable.md"
cat "$out/durable.md"
