#!/usr/bin/env bash
# runs alone: it keeps a CPU busy for a second, which would disturb another test (run.sh)
# tw-pause-probe, the machine's-pauses baseline printed by make perf and
# make perf-livechange: its report (text and JSON) and its refusals.
# Figures are not asserted (they are the machine's), only their shape and
# consistency: a 1-second run makes many clock reads (over 1,000), pauses of
# 1 ms are among those of 100 us, charged ones among those of 1 ms, and
# the longest pause's charged share is at most the pause.
# Bad input: usage errors exit 2 with the usage line; a CPU that does not
# exist exits 1 naming it. Nothing is left running (run.sh checks).
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
probe() { timeout 30 "$TW_BUILD/tw-pause-probe" "$@"; } # a hang fails here, not at run.sh's limit
field() { grep -o "\"$2\": [0-9-]*" <<<"$1" | head -1 | awk '{ print $2 }'; }

out=$(probe --cpu 0 --busy-cpu 1 --seconds 1 --json) || fail "probe failed: $out"
for f in cpu busy_cpu seconds iterations longest_pause_ns longest_pause_charged_ns \
	pauses_over_100us pauses_over_1ms charged_pauses_over_1ms; do
	[ -n "$(field "$out" "$f")" ] || fail "no $f in: $out"
done
[ "$(field "$out" cpu)" = 0 ] && [ "$(field "$out" busy_cpu)" = 1 ] || fail "wrong CPUs: $out"
[ "$(field "$out" iterations)" -gt 1000 ] || fail "too few clock reads: $out"
[ "$(field "$out" pauses_over_1ms)" -le "$(field "$out" pauses_over_100us)" ] || fail "1 ms > 100 us: $out"
[ "$(field "$out" charged_pauses_over_1ms)" -le "$(field "$out" pauses_over_1ms)" ] || fail "charged: $out"
[ "$(field "$out" longest_pause_charged_ns)" -le "$(field "$out" longest_pause_ns)" ] ||
	fail "charged share over the pause: $out"
echo "ok: JSON report: $out"

text=$(probe --cpu 1 --seconds 1) || fail "text run failed"
grep -q "^CPU 1, other CPUs as they are, 1 s: longest pause [0-9]* us" <<<"$text" || fail "text: $text"
echo "ok: text report: $text"

# usage errors: exit 2 and the usage line
for args in "" "--cpu" "--cpu 0 --busy-cpu 0" "--cpu 0 --seconds 0" "--cpu 0 --seconds 3601" \
	"--cpu -1" "--cpu 5000" "--cpu 0 --bogus"; do
	rc=0
	# shellcheck disable=SC2086
	err=$(probe $args 2>&1 >/dev/null) || rc=$?
	[ "$rc" = 2 ] || fail "'$args': exit $rc, not 2"
	grep -q "^usage: tw-pause-probe" <<<"$err" || fail "'$args': no usage line: $err"
done
echo "ok: usage errors exit 2"

# a CPU this machine does not have: exit 1, named
missing=$(($(nproc --all) + 7))
rc=0
err=$(probe --cpu "$missing" --seconds 1 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "CPU $missing: exit $rc, not 1"
grep -q "cannot run on CPU $missing" <<<"$err" || fail "CPU $missing: $err"
echo "ok: missing CPU $missing: $err"
