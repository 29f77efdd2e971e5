#!/usr/bin/env bash
# make up: a local engine in the background, described by build/dev.env
# (TW_SOCKET, TW_NETNS, TW_ENGINE). The result store of the last make up
# (results, schedules, tasks held for later) is kept; `make up CLEAN=1`
# starts with an empty one. Publishers run inside the namespace:
#   . build/dev.env; ip netns exec $TW_NETNS build/twctl publish "" q noop
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ -f "$TW_BUILD/dev.env" ]; then
	echo "make up: an engine is already up ($TW_BUILD/dev.env); make down first" >&2
	exit 1
fi
if [ "${CLEAN:-0}" = 1 ]; then
	TW_KEEP_STORE=0
else
	TW_KEEP_STORE=1
fi
export TW_KEEP_STORE
tw_engine_start dev "$@"
cp "$TW_DIR/engine.env" "$TW_BUILD/dev.env"
echo "taskwire is up:"
cat "$TW_BUILD/dev.env"
echo "try: . build/dev.env && build/twctl status"
