#!/usr/bin/env bash
# Run every libFuzzer harness for FUZZ_SECONDS (default 10), starting from
# the seed corpus in fuzz/corpus/ (copied: the repo's corpus stays as it
# is). A crash fails the run; its input is kept in build/fuzz/ to become
# a regression seed. Prints executions and coverage per harness.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/select.sh"
secs=${FUZZ_SECONDS:-10}
build=${TW_BUILD:-$root/build}
passed=0
failed=0
for h in wire topic topic_tiny definitions cron parse control; do
	bin=$build/fuzz/fuzz_$h
	tw_test_selected "$bin" || continue
	work=$build/fuzz/corpus-$h
	mkdir -p "$work"
	cp -n "$root/fuzz/corpus/${h%_tiny}"/* "$work"/ 2>/dev/null || true
	log=$build/fuzz/$h.log
	if (cd "$build/fuzz" && timeout $((secs + 60)) "$bin" -max_total_time="$secs" \
		-rss_limit_mb=1024 -print_final_stats=1 "$work" >"$log" 2>&1); then
		passed=$((passed + 1))
		stats=$(grep -E "^#[0-9]+.*DONE" "$log" | tail -1 | sed 's/ *lim:.*//')
		echo "PASS fuzz_$h: ${stats:-done}"
	else
		failed=$((failed + 1))
		echo "FAIL fuzz_$h; its log:"
		tail -30 "$log" | sed 's/^/    /'
	fi
done
# fuzz_parse and fuzz_control run DPDK's EAL (in memory): their runtime
# folders; fuzz_control's result store
rm -rf /var/run/dpdk/tw-fuzzparse /var/run/dpdk/tw-fuzzctl /tmp/tw-fuzzctl-*
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
