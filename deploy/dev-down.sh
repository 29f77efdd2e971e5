#!/usr/bin/env bash
# make down: stop the engine of make up and remove all it made.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rc=0
# tw-amqp first: its consumers' unacked messages go back while the engine runs
if [ -f "$TW_BUILD/run/dev/engine.env.amqp" ]; then
	# shellcheck disable=SC1091
	. "$TW_BUILD/run/dev/engine.env.amqp"
	tw_stop_pid "${TW_AMQP_PID:-}" || rc=1
	rm -f "$TW_BUILD/run/dev/engine.env.amqp"
fi
if [ -f "$TW_BUILD/run/dev/engine.env" ]; then
	tw_engine_stop "$TW_BUILD/run/dev" || rc=1
fi
rm -f "$TW_BUILD/dev.env"
exit $rc
