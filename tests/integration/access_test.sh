#!/usr/bin/env bash
# Access control of the control socket through the real binaries (run by
# run.sh in an engine's environment):
#  1. by default (mode 0600) only root and tw-control's user get in: an
#     unprivileged user (nobody) is refused by the file's mode (exit 1,
#     a message naming the socket);
#  2. tw-control --socket-group G: the socket is 0660 group G; a user whose
#     primary or supplementary group is G gets in, others do not;
#  3. if the mode is loosened by mistake (chmod 0666), the peer-credential
#     check (SO_PEERCRED) still refuses the stranger, with a message, and
#     tw-control counts the refusal;
#  4. authenticated publishing: an engine started with --keys FILE takes
#     frames with a valid MAC only; no MAC or a wrong key is NACKed
#     access-refused (counted); a keys file others may read, or with a bad
#     line, stops tw-dataplane at start with a message;
#  5. publishing by source address: an exchange declared with --allow
#     ranges takes tasks from those addresses only (NACK access-refused
#     "source address not allowed", counted); ranges are listed, exported
#     and imported (definitions) and a bad range is refused (exit 1).
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
G=4242          # a gid nobody belongs to
as() { # uid gid [supplementary gid] -- command...
	local uid=$1 gid=$2 groups=$3; shift 4
	setpriv --reuid="$uid" --regid="$gid" --groups="$groups" "$@"
}
status_as() { as "$@" "$TW_BUILD/twctl" --socket "$TW_SOCKET" status; }
[ "$(id -u)" -eq 0 ] || fail "needs root (setpriv)"
home=$TW_DIR    # part 4 sources another engine's environment

# 1. the default: 0600
[ "$(stat -c %a "$TW_SOCKET")" = 600 ] || fail "socket mode $(stat -c %a "$TW_SOCKET")"
"$TW_BUILD/twctl" --socket "$TW_SOCKET" status >/dev/null || fail "root refused"
rc=0; status_as 65534 65534 65534 -- >/dev/null 2>"$TW_DIR/err.txt" || rc=$?
[ $rc -eq 1 ] || fail "nobody got in (exit $rc)"
grep -qi "permission denied" "$TW_DIR/err.txt" || fail "message: $(cat "$TW_DIR/err.txt")"
echo "ok: 0600 socket, a stranger refused"

# 2. --socket-group: restart tw-control with it (the data plane keeps running)
chmod o+x "$TW_DIR" "$(dirname "$TW_DIR")" "$TW_BUILD" "$TW_ROOT" 2>/dev/null || true
tw_stop_pid "$TW_CTL_PID" || fail "tw-control did not stop"
tw_control_spawn "$TW_DIR" "$TW_PREFIX" "$TW_DIR/control2.log" --socket-group "$G"
ctl=$!
sed -i "s/^TW_CTL_PID=.*/TW_CTL_PID=$ctl/" "$TW_DIR/engine.env"
tw_wait_for_line "$TW_DIR/control2.log" "tw-control: ready" "$ctl" 30 || fail "tw-control restart"
[ "$(stat -c '%a %g' "$TW_SOCKET")" = "660 $G" ] || fail "socket mode/group: $(stat -c '%a %g' "$TW_SOCKET")"
status_as 65534 "$G" "$G" -- >/dev/null || fail "primary group $G refused"
status_as 65534 65534 "$G" -- >/dev/null || fail "supplementary group $G refused"
rc=0; status_as 65534 65534 65534 -- >/dev/null 2>"$TW_DIR/err.txt" || rc=$?
[ $rc -eq 1 ] || fail "a user outside $G got in (exit $rc)"
echo "ok: --socket-group: members in (primary and supplementary), others out"

# 3. a loosened mode: the credentials check still holds
chmod 0666 "$TW_SOCKET"
rc=0; status_as 65534 65534 65534 -- >/dev/null 2>"$TW_DIR/err.txt" || rc=$?
[ $rc -eq 1 ] || fail "a stranger got in through a 0666 socket (exit $rc)"
grep -q "access refused: uid 65534 is not tw-control's user (uid 0) nor in its --socket-group" \
	"$TW_DIR/err.txt" || fail "refusal message: $(cat "$TW_DIR/err.txt")"
"$TW_BUILD/twctl" --socket "$TW_SOCKET" status >/dev/null || fail "root refused after chmod"
tw_stop_pid "$ctl" || fail "tw-control did not stop"
grep -q "1 clients refused" "$TW_DIR/control2.log" || fail "refusal not counted: $(tail -1 "$TW_DIR/control2.log")"
# the runner stops the engine; its tw-control is gone already
tw_control_spawn "$TW_DIR" "$TW_PREFIX" "$TW_DIR/control3.log"
ctl=$!
sed -i "s/^TW_CTL_PID=.*/TW_CTL_PID=$ctl/" "$TW_DIR/engine.env"
tw_wait_for_line "$TW_DIR/control3.log" "tw-control: ready" "$ctl" 30 || fail "tw-control restart"
echo "ok: SO_PEERCRED refuses a stranger through a loosened mode, and counts it"

# 4. authenticated publishing, in an engine of its own
keys=$TW_DIR/keys
printf '# publisher keys\n7 00112233445566778899aabbccddeeff0123456789abcdef\n' >"$keys"
chmod 0644 "$keys"
if tw_engine_start itkeys --keys "$keys" 2>"$TW_DIR/keys.err"; then
	tw_engine_stop "$TW_BUILD/run/itkeys"
	fail "tw-dataplane took a keys file others may read"
fi
grep -q "readable by no one else (chmod 600)" "$TW_DIR/keys.err" || fail "mode message: $(cat "$TW_DIR/keys.err")"
printf '7 nothex\n' >"$TW_DIR/badkeys"
chmod 0600 "$TW_DIR/badkeys"
if tw_engine_start itkeys --keys "$TW_DIR/badkeys" 2>"$TW_DIR/keys.err"; then
	tw_engine_stop "$TW_BUILD/run/itkeys"
	fail "tw-dataplane took a bad keys file"
fi
grep -q "line 1: the key must be 32 to 128 hex digits" "$TW_DIR/keys.err" ||
	fail "bad line message: $(cat "$TW_DIR/keys.err")"
chmod 0600 "$keys"
# small pools: it runs beside run.sh's engine, on hugepages other tests share
tw_engine_start itkeys --keys "$keys" --mbufs 4095 --task-descriptors 4095 || fail "engine with keys"
trap 'tw_engine_stop "$TW_BUILD/run/itkeys"' EXIT
. "$TW_BUILD/run/itkeys/engine.env"
twctl_ns queue declare jobs >/dev/null
rc=0; out=$(twctl_ns publish '' jobs add '[1,2]' --wait 5) || rc=$?
[ $rc -eq 1 ] && grep -q "NACK access-refused: frame MAC missing or wrong" <<<"$out" ||
	fail "unsigned frame: exit $rc: $out"
out=$(twctl_ns --key-file "$keys" --key-id 7 publish '' jobs add '[1,2]' --wait 5) ||
	fail "signed frame: $out"
grep -q "SUCCESS 3" <<<"$out" || fail "signed frame result: $out"
# the Python client signs the same way
out=$(tw_in_ns env TW_PYTHON_GEN="$TW_BUILD/python" PYTHONPATH="$TW_ROOT/clients/python" \
	/usr/bin/python3 -c '
import sys, taskwire
c = taskwire.Client(engine=sys.argv[1], control_socket="", key_file=sys.argv[2], key_id=7,
                    default_queue="jobs")
print(c.task("add").delay(2, 5).get(timeout=5))
c.close()' "$TW_ENGINE" "$keys" 2>&1) || fail "python client, signed: $out"
[ "$out" = 7 ] || fail "python client, signed: $out"
printf '7 ffeeddccbbaa99887766554433221100ffeeddccbbaa9988\n' >"$TW_DIR/wrongkey"
chmod 0600 "$TW_DIR/wrongkey"
rc=0; out=$(twctl_ns --key-file "$TW_DIR/wrongkey" --key-id 7 publish '' jobs add '[1,2]' --wait 5) || rc=$?
[ $rc -eq 1 ] && grep -q "NACK access-refused" <<<"$out" || fail "wrong key: exit $rc: $out"
rc=0; twctl_ns --key-file "$keys" --key-id 8 publish '' jobs add '[1,2]' 2>"$TW_DIR/err.txt" || rc=$?
[ $rc -eq 1 ] && grep -q "with the key file" "$TW_DIR/err.txt" || fail "unknown key id: $(cat "$TW_DIR/err.txt")"
n=$("$TW_BUILD/twctl" --socket "$TW_SOCKET" status --json | tr -d ' \n' |
	grep -o '"frames_refused_mac":[0-9]*' | tail -1 | cut -d: -f2)
# the unsigned and the wrong-key publish, and the probe each of those two
# clients sends at open for its source cookie (signed the same way)
[ "${n:-0}" -eq 4 ] || fail "frames refused for their MAC: ${n:-none} (want 4)"
tw_engine_stop "$TW_BUILD/run/itkeys" || fail "keyed engine did not stop"
trap - EXIT
echo "ok: authenticated publishing (MAC checked, bad frames NACKed and counted, keys files checked)"

# 5. source ranges per exchange, on this test's own engine again
. "$home/engine.env"
tc() { "$TW_BUILD/twctl" --socket "$TW_SOCKET" "$@"; }
tp() { tw_in_ns "$TW_BUILD/twctl" --socket "$TW_SOCKET" --engine "$TW_ENGINE" publish "$@"; }
tc exchange declare inside direct --allow 10.77.0.0/24 --allow 192.0.2.1/32 >/dev/null
tc exchange declare outside direct --allow 198.51.100.0/24 >/dev/null
tc queue declare srcq >/dev/null
tc bind inside srcq k >/dev/null
tc bind outside srcq k >/dev/null
out=$(tp inside k add '[2,2]' --wait 5) || fail "allowed source refused: $out"
grep -q "SUCCESS 4" <<<"$out" || fail "allowed source: $out"
rc=0; out=$(tp outside k add '[2,2]' --wait 5) || rc=$?
[ $rc -eq 1 ] && grep -q "NACK access-refused: source address not allowed on this exchange" <<<"$out" ||
	fail "outside source: exit $rc: $out"
n=$(tc status --json | tr -d ' \n' | grep -o '"nack_source_refused":[0-9]*' | tail -1 | cut -d: -f2)
[ "${n:-0}" -eq 1 ] || fail "source refusals counted: ${n:-none}"
tc list exchanges | grep -q "inside .*10.77.0.0/24,192.0.2.1/32" || fail "listing: $(tc list exchanges)"
tc definitions export "$TW_DIR/defs.json" >/dev/null
/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
x = {e["name"]: e for e in d["exchanges"]}
assert x["inside"]["arguments"]["x-allowed-sources"] == ["10.77.0.0/24", "192.0.2.1/32"], x["inside"]
' "$TW_DIR/defs.json" || fail "export: $(cat "$TW_DIR/defs.json")"
tc exchange delete inside >/dev/null
tc definitions import "$TW_DIR/defs.json" >/dev/null || fail "import of the export"
tc list exchanges | grep -q "inside .*10.77.0.0/24,192.0.2.1/32" || fail "ranges after import: $(tc list exchanges)"
# redeclaring with other ranges is refused; bad ranges are refused
rc=0; tc exchange declare inside direct --allow 10.77.0.0/16 2>"$TW_DIR/err.txt" || rc=$?
[ $rc -eq 1 ] && grep -q "exists as" "$TW_DIR/err.txt" || fail "redeclare: $(cat "$TW_DIR/err.txt")"
for bad in 10.77.0.1/24 10.77.0.0/33 nonsense; do
	rc=0; tc exchange declare badsrc direct --allow "$bad" 2>"$TW_DIR/err.txt" || rc=$?
	[ $rc -eq 1 ] && grep -q "source range '$bad' is not A.B.C.D/N" "$TW_DIR/err.txt" ||
		fail "bad range $bad: exit $rc: $(cat "$TW_DIR/err.txt")"
done
echo "ok: publishing by source address per exchange (allowed, refused and counted, listed, exported)"
