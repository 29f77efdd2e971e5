#!/usr/bin/env bash
# Definitions import/export through the real binaries (run by run.sh):
#  1. a RabbitMQ export (users, vhosts, permissions included) imports as
#     is and routes as its bindings say (topic, alternate, internal,
#     exchange-to-exchange, headers);
#  2. export, import the export, export again: the same document;
#  3. unsupported and unknown fields: exit 1, every one named, nothing applied;
#  4. an item refused by the engine mid-way: exit 1, the whole file rolled back;
#  5. tw-control --definitions FILE imports at start.
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
data=$(dirname "$0")/data
published() { twctl list queues | awk -v q="$1" '$1 == q { print $6 }'; }

# 1
twctl definitions import "$data/rabbitmq-definitions.json" || fail "import of a RabbitMQ export"
twctl list queues | grep -q "^orders  *1000 " || fail "orders max-length"
o0=$(published orders); a0=$(published audit); r0=$(published reports)
publish events order.new noop | grep -q ACK || fail "topic route"
publish events nobody.cares noop | grep -q ACK || fail "alternate route"
publish events doc.x noop --header format=pdf | grep -q ACK || fail "e2e + headers route"
[ "$(published orders)" -eq $((o0 + 1)) ] || fail "orders did not get order.new"
[ "$(published audit)" -eq $((a0 + 1)) ] || fail "audit (alternate) did not get the unroutable task"
[ "$(published reports)" -eq $((r0 + 1)) ] || fail "reports did not get the pdf"
out=$(publish unrouted x noop || true)
echo "$out" | grep -q "NACK access-refused" || fail "internal exchange accepted a publish: $out"
# a durable queue needs a journal, which this engine (no --data-dir) does not keep
out=$(twctl queue declare dq --durable 2>&1 || true)
echo "$out" | grep -q "keeps no journal" || fail "durable queue without a journal: $out"
echo "ok: RabbitMQ definitions imported and routing"

# 2
twctl definitions export "$TW_DIR/a.json" >/dev/null
twctl definitions import "$TW_DIR/a.json" >/dev/null || fail "re-import of our export"
twctl definitions export "$TW_DIR/b.json" >/dev/null
cmp -s "$TW_DIR/a.json" "$TW_DIR/b.json" || { diff "$TW_DIR/a.json" "$TW_DIR/b.json"; fail "round trip differs"; }
grep -q '"alternate-exchange": "unrouted"' "$TW_DIR/a.json" || fail "export lost the alternate"
grep -q '"x-max-length": 1000' "$TW_DIR/a.json" || fail "export lost x-max-length"
grep -q '"x-overflow": "drop-head"' "$TW_DIR/a.json" || fail "export lost x-overflow"
grep -q '"x-message-ttl": 600000' "$TW_DIR/a.json" || fail "export lost x-message-ttl"
grep -q '"x-dead-letter-routing-key": "reports.dead"' "$TW_DIR/a.json" || fail "export lost the dead-letter key"
grep -q '"x-match": "all"' "$TW_DIR/a.json" || fail "export lost the headers binding"
echo "ok: export -> import -> export is stable"

# 3
before=$(twctl definitions export -)
if twctl definitions import "$data/unsupported-definitions.json" 2>"$TW_DIR/err.txt"; then
	fail "unsupported definitions were accepted"
fi
for want in "queues\[0\].foo: unknown field" "queues\[0\].arguments.x-single-active-consumer: not supported" \
	"queues\[1\].vhost" "queues\[1\].auto_delete" "exchanges\[0\].arguments.x-delayed-type" \
	"policies: not supported" "nothing imported"; do
	grep -q "$want" "$TW_DIR/err.txt" || { cat "$TW_DIR/err.txt"; fail "no error naming $want"; }
done
[ "$(twctl definitions export -)" = "$before" ] || fail "a refused file changed something"
echo "ok: unsupported fields named, nothing applied"

# 4
if twctl definitions import "$data/half-definitions.json" 2>"$TW_DIR/err2.txt"; then
	fail "a file binding to a missing queue was accepted"
fi
grep -q "bindings\[1\].*no queue 'ghost'" "$TW_DIR/err2.txt" || { cat "$TW_DIR/err2.txt"; fail "refusal not named"; }
[ "$(twctl definitions export -)" = "$before" ] || fail "a refused batch was half applied"
echo "ok: a batch refused mid-way is rolled back"

# 5
tw_stop_pid "$TW_CTL_PID" || fail "tw-control did not stop"
tw_control_spawn "$TW_DIR" "$TW_PREFIX" "$TW_DIR/control3.log" --definitions "$data/rabbitmq-definitions.json"
ctl=$!
sed -i "s/^TW_CTL_PID=.*/TW_CTL_PID=$ctl/" "$TW_DIR/engine.env"
tw_wait_for_line "$TW_DIR/control3.log" "tw-control: ready" "$ctl" 30 || { cat "$TW_DIR/control3.log"; fail "no start with --definitions"; }
grep -q "imported 3 exchanges, 3 queues, 4 bindings" "$TW_DIR/control3.log" || fail "no import at start"
echo "ok: tw-control --definitions"

# 6. tw-dataplane --definitions: in place before the first packet; tw-control finds them
outer_dir=$TW_DIR
tw_engine_start itdefs2 --definitions "$(cd "$data" && pwd)/rabbitmq-definitions.json" || fail "engine with --definitions"
trap 'tw_engine_stop "$TW_BUILD/run/itdefs2"' EXIT
grep -q "tw-dataplane: imported 3 exchanges, 3 queues, 4 bindings" "$TW_BUILD/run/itdefs2/dataplane.log" || fail "no import in tw-dataplane"
. "$TW_BUILD/run/itdefs2/engine.env"
[ "$("$TW_BUILD/twctl" --socket "$TW_SOCKET" list bindings --json | grep -c '"source"')" -eq 4 ] || fail "tw-control does not see the bindings"
out=$(ip netns exec "$TW_NETNS" "$TW_BUILD/twctl" --socket "$TW_SOCKET" --engine "$TW_ENGINE" publish events order.x add '[1,2]' --wait 5)
echo "$out" | grep -q "SUCCESS 3" || fail "routing with definitions from tw-dataplane: $out"
tw_engine_stop "$TW_BUILD/run/itdefs2" || fail "second engine did not stop cleanly"
trap - EXIT
TW_DIR=$outer_dir
echo "ok: tw-dataplane --definitions"
