#!/usr/bin/env bash
# make down: stop the engine of make up and remove all it made.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rc=0
if [ -f "$TW_BUILD/run/dev/engine.env" ]; then
	tw_engine_stop "$TW_BUILD/run/dev" || rc=1
fi
rm -f "$TW_BUILD/dev.env"
exit $rc
