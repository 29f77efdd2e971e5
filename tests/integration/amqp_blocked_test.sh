#!/usr/bin/env bash
# connection.blocked / unblocked (RabbitMQ's extension) through tw-amqp:
# an engine of 2,047 task descriptors fills up with waiting messages and
# refuses a publish (pika sees basic.nack); pika's blocked-connection
# callback fires with the reason, a raw client that announced the
# capability is told at once when it connects, one that did not is told
# nothing; a purge frees the engine and every told client gets
# connection.unblocked; publishing works again.
# engine options: --task-descriptors 2047
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/amqp/amqp_lib.sh"
trap 'amqp_stop >/dev/null 2>&1 || true' EXIT
amqp_start
amqp_py "$here/amqp/pika_blocked.py" || amqp_fail "blocked scenario"
amqp_stop
trap - EXIT
cat "$AMQP_LOG"
[ "$(amqp_counter blocked)" -ge 1 ] || amqp_fail "blocked counter"
grep -q "publishers unblocked" "$AMQP_LOG" || amqp_fail "no unblock in the log"
echo "amqp_blocked_test: all passed"
