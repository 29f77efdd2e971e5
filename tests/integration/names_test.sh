#!/usr/bin/env bash
# Names, through the real binaries: one rule (common/tw_names.h: valid
# UTF-8, no C0/DEL/C1 control character, at most 127 bytes) for every queue,
# exchange and routing name, at every entry point of the control socket:
#  1. twctl queue/exchange declare, bind and schedule add with invalid
#     UTF-8, a control character, a C1 character or too long a name: exit 1,
#     a message naming the field and the problem; nothing created; counted
#     (ctl_names_refused);
#  2. a definitions import with such a name: exit 1, the item named,
#     nothing applied;
#  3. a valid non-ASCII name works everywhere it appears: list --json,
#     definitions export, /metrics (still valid UTF-8).
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
py=/usr/bin/python3
refused() { # expected-message twctl-args...: exit 1 with that message
	local want=$1 rc=0; shift
	twctl "$@" >/dev/null 2>"$TW_DIR/err.txt" || rc=$?
	[ $rc -eq 1 ] || fail "twctl $* exited $rc: $(cat "$TW_DIR/err.txt")"
	grep -qF "$want" "$TW_DIR/err.txt" || fail "twctl $*: message $(cat "$TW_DIR/err.txt"), wanted: $want"
}
long=$(printf 'q%.0s' $(seq 1 130))

# 1. one request at a time
refused "queue name is not valid UTF-8 (byte 0xff at offset 3)" queue declare $'bad\xff'
refused "queue name contains the control character U+000A at offset 1" queue declare $'a\nb'
refused "queue name contains the control character U+0085 at offset 1" queue declare $'a\xc2\x85'
refused "queue name is 130 bytes, longer than the limit of 127" queue declare "$long"
refused "dead-letter exchange is not valid UTF-8" queue declare okq --dead-letter-exchange $'x\xc3'
refused "exchange name is not valid UTF-8 (byte 0xc0 at offset 0)" exchange declare $'\xc0\xafx' direct
refused "alternate exchange contains the control character U+001B" exchange declare okx direct --alternate $'a\x1b[31m'
twctl exchange declare names.x topic >/dev/null || fail "a plain exchange"
twctl queue declare names.q >/dev/null || fail "a plain queue"
refused "routing key is not valid UTF-8 (byte 0xed at offset 2)" bind names.x names.q $'a.\xed\xa0\x80'
refused "routing key contains the control character U+0009" bind names.x names.q $'a\tb'
refused "schedule routing key is not valid UTF-8" schedule add s1 --every 10s names.x $'k\xfe' noop
twctl --json list queues | $py -c '
import json, sys
names = [q["name"] for q in json.load(sys.stdin)]
assert names == ["names.q"], names' || fail "something was created: $(twctl --json list queues)"
n=$(twctl status --json | $py -c 'import json,sys; print(json.load(sys.stdin)["control"]["ctl_names_refused"])')
[ "$n" -ge 10 ] || fail "ctl_names_refused $n"
echo "ok: invalid names refused with the field and the problem named ($n counted)"

# 2. definitions: control characters through JSON escapes (the JSON parser
# itself refuses invalid UTF-8 in the file)
cat >"$TW_DIR/defs.json" <<'JSON'
{"exchanges": [{"name": "d.x", "vhost": "/", "type": "direct", "durable": true,
                "auto_delete": false, "internal": false, "arguments": {}}],
 "queues": [{"name": "d.ok", "vhost": "/", "durable": false, "auto_delete": false, "arguments": {}},
            {"name": "d.bad\u0085", "vhost": "/", "durable": false, "auto_delete": false, "arguments": {}}],
 "bindings": []}
JSON
refused "definitions: queue 2: queue name contains the control character U+0085 at offset 5" \
	definitions import "$TW_DIR/defs.json"
cat >"$TW_DIR/defs2.json" <<'JSON'
{"exchanges": [{"name": "d.x", "vhost": "/", "type": "direct", "durable": true,
                "auto_delete": false, "internal": false, "arguments": {}}],
 "queues": [{"name": "d.ok", "vhost": "/", "durable": false, "auto_delete": false, "arguments": {}}],
 "bindings": [{"source": "d.x", "vhost": "/", "destination": "d.ok", "destination_type": "queue",
               "routing_key": "k\u0000k", "arguments": {}}]}
JSON
rc=0; twctl definitions import "$TW_DIR/defs2.json" >/dev/null 2>"$TW_DIR/err.txt" || rc=$?
[ $rc -eq 1 ] || fail "a routing key with a NUL imported (exit $rc)"
echo "  (NUL in a routing key: $(cat "$TW_DIR/err.txt"))"
twctl list exchanges | grep -q "d\.x" && fail "d.x created by a refused import"
twctl list queues | grep -q "d\.ok" && fail "d.ok created by a refused import"
echo "ok: definitions with a bad name refused, the item named, nothing applied"

# 3. a valid non-ASCII name everywhere
q=$'caf\xc3\xa9.\xe6\x97\xa5\xe6\x9c\xac.\xf0\x9f\x90\x87'
twctl queue declare "$q" >/dev/null || fail "a valid UTF-8 name refused"
twctl bind names.x "$q" $'r\xc3\xa9sum\xc3\xa9.*' >/dev/null || fail "a valid UTF-8 routing key refused"
twctl --json list queues | $py -c '
import json, sys
names = [q["name"] for q in json.load(sys.stdin)]
assert sys.argv[1] in names, names' "$q" || fail "not listed"
twctl definitions export "$TW_DIR/export.json" || fail "export"
$py -c '
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
assert sys.argv[2] in [q["name"] for q in d["queues"]], d["queues"]' "$TW_DIR/export.json" "$q" ||
	fail "not exported"
url=$(sed -n 's/^tw-control: metrics on \(http[^ ]*\)$/\1/p' "$TW_DIR/control.log" | tail -1)
if [ -n "$url" ]; then
	$py -c '
import sys, urllib.request
body = urllib.request.urlopen(sys.argv[1], timeout=5).read()
text = body.decode("utf-8")   # raises on invalid UTF-8
assert sys.argv[2] in text, "queue not in /metrics"' "$url" "$q" || fail "/metrics"
fi
echo "ok: a valid non-ASCII name is listed, exported and scraped"
