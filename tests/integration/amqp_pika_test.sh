#!/usr/bin/env bash
# tw-amqp with pika (Debian's python3-pika, unmodified): the handshake and
# refused logins, exchange/queue declare (passive too), bind/unbind, purge,
# delete, 1,000 messages published with confirms and consumed with acks
# (properties and headers byte for byte), a reject with requeue seen again
# with redelivered=true, nack without requeue, basic.get, qos, cancel,
# mandatory returns, a missing exchange (404), 200 kB and 1 MiB bodies
# (fragments to the engine and back, byte for byte) and a body over 1 MiB
# (311), tx.select (540); then
# (amqp/pika_flow.py) the counts of get-ok and declare-ok, basic.qos
# changed while consuming and global qos, x-expires, per-message
# expiration and x-message-ttl, with their bad values refused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/amqp/amqp_lib.sh"
trap 'amqp_stop >/dev/null 2>&1 || true' EXIT
amqp_start
amqp_py "$here/amqp/pika_basic.py" || amqp_fail "pika scenario"
amqp_py "$here/amqp/pika_flow.py" || amqp_fail "pika flow scenario"
amqp_stop
trap - EXIT
cat "$AMQP_LOG"
[ "$(amqp_counter delivered)" -ge 1000 ] || amqp_fail "delivered counter"
[ "$(amqp_counter auth_refused)" -ge 1 ] || amqp_fail "auth_refused counter"
[ "$(amqp_counter queues_expired)" -ge 3 ] || amqp_fail "queues_expired counter"
[ "$(amqp_counter qos_changes)" -ge 4 ] || amqp_fail "qos_changes counter"
[ "$(amqp_counter held)" -ge 1 ] || amqp_fail "held counter"

# as make up runs it: listening in this (the host's) namespace, reaching the
# engine inside its own (--netns); a client on the host's loopback
host_port=$((20000 + $$ % 20000))
"$TW_BUILD/tw-amqp" --engine "$TW_ENGINE" --socket "$TW_SOCKET" --netns "$TW_NETNS" \
	--listen "127.0.0.1:$host_port" >"$TW_DIR/amqp-host.log" 2>&1 &
host_pid=$!
trap 'kill -TERM "$host_pid" 2>/dev/null || true; wait "$host_pid" || true' EXIT
for _ in $(seq 100); do
	grep -q listening "$TW_DIR/amqp-host.log" && break
	sleep 0.05
done
timeout 60 /usr/bin/python3 -B - "$host_port" <<'PY' || { cat "$TW_DIR/amqp-host.log"; amqp_fail "host client through --netns"; }
import sys
import pika
c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", int(sys.argv[1])))
ch = c.channel()
ch.confirm_delivery()
ch.queue_declare("host.q")
ch.basic_publish("", "host.q", b"from the host")
m, p, b = ch.basic_get("host.q", auto_ack=True)
assert b == b"from the host", b
ch.queue_delete("host.q")
c.close()
print("ok: a client in the host namespace through tw-amqp --netns")
PY
kill -TERM "$host_pid"
wait "$host_pid" || amqp_fail "tw-amqp --netns did not stop cleanly"
trap - EXIT
echo "amqp_pika_test: all passed"
