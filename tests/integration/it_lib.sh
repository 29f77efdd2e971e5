# What the integration test scripts share (source it instead of
# deploy/lib.sh; run.sh has exported the engine's TW_* variables).
#
#   twctl ARGS...           twctl against this engine's tw-control
#   twctl_ns ARGS...        twctl inside the engine's namespace, with
#                           --engine (for what goes over the wire: publish)
#   publish ARGS...         twctl_ns publish ARGS...
#   fail MESSAGE...         print FAIL: MESSAGE and exit 1
#   counter NAME            a counter from `twctl status --json` (the last
#                           key of that name, engine or control), digits only
#   control_counter NAME    one of tw-control's own counters, 0 when absent
. "$(dirname "${BASH_SOURCE[0]}")/../../deploy/lib.sh"

twctl() { "$TW_BUILD/twctl" --socket "$TW_SOCKET" "$@"; }
twctl_ns() { tw_in_ns "$TW_BUILD/twctl" --socket "$TW_SOCKET" --engine "$TW_ENGINE" "$@"; }
publish() { twctl_ns publish "$@"; }
fail() {
	echo "FAIL: $*"
	exit 1
}
counter() {
	twctl status --json | tr -d ' \n' | grep -o "\"$1\":[0-9]*" | tail -1 | cut -d: -f2
}
control_counter() {
	twctl status --json | /usr/bin/python3 -c \
		'import json, sys; print(json.load(sys.stdin)["control"].get(sys.argv[1], 0))' "$1"
}
