#!/usr/bin/env bash
# tw-amqp with pika (Debian's python3-pika, unmodified): the handshake and
# refused logins, exchange/queue declare (passive too), bind/unbind, purge,
# delete, 1,000 messages published with confirms and consumed with acks
# (properties and headers byte for byte), a reject with requeue seen again
# with redelivered=true, nack without requeue, basic.get, qos, cancel,
# mandatory returns, a missing exchange (404) and tx.select (540).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/amqp/amqp_lib.sh"
trap 'amqp_stop >/dev/null 2>&1 || true' EXIT
amqp_start
amqp_py "$here/amqp/pika_basic.py" || amqp_fail "pika scenario"
amqp_stop
trap - EXIT
cat "$AMQP_LOG"
[ "$(amqp_counter delivered)" -ge 1000 ] || amqp_fail "delivered counter"
[ "$(amqp_counter auth_refused)" -ge 1 ] || amqp_fail "auth_refused counter"
echo "amqp_pika_test: all passed"
