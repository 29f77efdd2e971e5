#!/usr/bin/env bash
# Reflection amplification through the real binaries (run by run.sh):
# engine options: --cookie-lifetime-s 2 --retry-min-ms 50
#  - frames from sources that never return the engine's cookie (what a
#    forged source address looks like: 256 empty tasks, 40 progress tasks
#    of 100 updates, 30 failing tasks retried 5 times) get back at most
#    what they sent (x1, IP and UDP headers included), and nothing of them
#    runs;
#  - the same frames sent again with the cookie of the refusal run whole
#    (confirms, PROGRESS, RETRY, SUCCESS and FAILURE results come);
#  - another port's cookie, a forged, a damaged and an expired one are
#    refused retry-with-cookie and counted (cookie_bad, cookie_expired);
#  - refusals that would not fit the request (a bare 16-byte frame) are not
#    sent, counted (unverified_silent); a malformed frame's refusal and an
#    unproven consumer's subscribe stay within budget, no deliveries;
#  - libtaskwire (twctl), tw-worker and the Python client and worker do
#    the round trip without their callers noticing.
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"

twctl_ns queue declare aq >/dev/null
executed0=$(counter tasks_executed)

out=$(tw_in_ns env TW_PYTHON_GEN="$TW_BUILD/python" PYTHONPATH="$TW_ROOT/clients/python" \
	timeout 120 /usr/bin/python3 "$TW_ROOT/tests/integration/amplify.py" "$TW_ENGINE" aq 2 2>&1) ||
	fail "probe: $out"
echo "$out"
field() { # LINE-PREFIX KEY: the value after KEY on the line starting with LINE-PREFIX
	grep "^$1 " <<<"$out" | head -1 | tr ' ' '\n' | grep -A1 -x "$2" | tail -1
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# 1. unproven: at most what was sent, one refusal with a cookie per frame
for k in empty progress retries; do
	l="unverified $k"
	le "$(field "$l" out)" "$(field "$l" in)" || fail "$l: amplified: $(grep "^$l " <<<"$out")"
	le "$(field "$l" wire_ratio)" 1 || fail "$l: amplified on the wire"
	[ "$(field "$l" nack12)" = 3 ] && [ "$(field "$l" cookies)" = 3 ] ||
		fail "$l: not one retry-with-cookie per frame"
done
# 2. with the cookie: the tasks run
l="verified empty"
[ "$(field "$l" nacks)" = 256 ] || fail "$l: $(grep "^$l " <<<"$out")"
l="verified progress"
# (PROGRESS results are datagrams like any: a few may be lost by a busy
# reader's socket; the SUCCESS of each task must come)
[ "$(field "$l" acks)" = 20 ] && [ "$(field "$l" success)" = 20 ] &&
	[ "$(field "$l" progress)" -ge 1900 ] || fail "$l: $(grep "^$l " <<<"$out")"
l="verified retries"
[ "$(field "$l" acks)" = 30 ] && [ "$(field "$l" retry)" = 150 ] &&
	[ "$(field "$l" failure)" = 30 ] || fail "$l: $(grep "^$l " <<<"$out")"
# 3. refused cookies: NACK retry-with-cookie (12), nothing run, within budget
for k in other-port forged damaged expired; do
	l="refused $k"
	[ "$(field "$l" acks)" = 0 ] && [ "$(field "$l" nacks)" = 12 ] || fail "$l: $(grep "^$l " <<<"$out")"
	le "$(field "$l" out)" "$(field "$l" in)" || fail "$l: amplified"
done
[ "$(counter cookie_bad)" -ge 3 ] || fail "cookie_bad $(counter cookie_bad)"
[ "$(counter cookie_expired)" -ge 1 ] || fail "cookie_expired $(counter cookie_expired)"
[ "$(counter cookie_missing)" -ge 9 ] || fail "cookie_missing $(counter cookie_missing)"
# 4. what does not fit is not sent
[ "$(field bare out)" = 0 ] || fail "a bare frame was answered"
[ "$(counter unverified_silent)" -ge 1 ] || fail "unverified_silent not counted"
le "$(field malformed out)" "$(field malformed in)" || fail "malformed: amplified"
le "$(field subscribe out)" "$(field subscribe in)" || fail "subscribe: amplified"
[ "$(field subscribe deliveries)" = 0 ] && [ "$(field subscribe consumers)" = 0 ] ||
	fail "an unproven consumer was subscribed"
l="unverified-fragments"
[ "$(field "$l" pieces)" -ge 4 ] && [ "$(field "$l" replies)" = 1 ] && [ "$(field "$l" nack12)" = 1 ] ||
	fail "$l: not one retry-with-cookie per fragmented frame: $(grep "^$l " <<<"$out")"
le "$(field "$l" largest)" "$(field "$l" first)" || fail "$l: a reply larger than a piece"
[ "$(counter frag_unproven)" -ge "$(field "$l" pieces)" ] ||
	fail "$l: drops.frag_unproven $(counter frag_unproven)"
# only the proven frames ran: 20 progress + 30 failing tasks (+ 5 retries each)
executed=$(( $(counter tasks_executed) - executed0 ))
[ "$executed" -eq 200 ] || fail "tasks run: $executed, not 200"
echo "ok: unproven sources got at most what they sent; proven ones ran everything ($executed runs)"

# 5. the clients' round trip, transparent: libtaskwire (twctl), the Python
# client, tw-worker and the Python worker
o=$(twctl_ns publish '' aq add '[2,3]' --wait 5) || fail "twctl: $o"
grep -q "SUCCESS 5" <<<"$o" || fail "twctl: $o"
o=$(tw_in_ns env TW_PYTHON_GEN="$TW_BUILD/python" PYTHONPATH="$TW_ROOT/clients/python" \
	timeout 60 /usr/bin/python3 - "$TW_ENGINE" <<'PY' 2>&1
import sys
import taskwire
c = taskwire.Client(engine=sys.argv[1], default_queue="aq")
print("python", c.task("add").delay(4, 5).get(timeout=5), c.stats().get("cookie_retries", 0))
c.close()
PY
) || fail "python client: $o"
[[ "$o" == "python 9 "[0-9]* ]] || fail "python client: $o"
echo "ok: twctl and the Python client (cookie retries: ${o##* })"
