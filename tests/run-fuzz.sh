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
# Harnesses run side by side, one per CPU (TW_FUZZ_JOBS): each is one
# process on one CPU for its FUZZ_SECONDS, so two at once on two CPUs make
# as many executions each as one after the other, in half the time. Each
# one's lines are printed in order once the batch ends.
jobs=${TW_FUZZ_JOBS:-$(nproc)}
work=$(mktemp -d "${TMPDIR:-/tmp}/tw-fuzz-run.XXXXXX")
# One harness: its verdict line(s) into $work/H.out, 0 or 1 into $work/H.rc
fuzz_one() {
	local h=$1 bin=$build/fuzz/fuzz_$1 work_dir=$build/fuzz/corpus-$1 log=$build/fuzz/$1.log stats
	mkdir -p "$work_dir"
	cp -n "$root/fuzz/corpus/${h%_tiny}"/* "$work_dir"/ 2>/dev/null || true
	if (cd "$build/fuzz" && timeout $((secs + 60)) "$bin" -max_total_time="$secs" \
		-rss_limit_mb=1024 -print_final_stats=1 "$work_dir" >"$log" 2>&1); then
		echo 0 >"$work/$h.rc"
		stats=$(grep -E "^#[0-9]+.*DONE" "$log" | tail -1 | sed 's/ *lim:.*//')
		echo "PASS fuzz_$h: ${stats:-done}" >"$work/$h.out"
	else
		echo 1 >"$work/$h.rc"
		{
			echo "FAIL fuzz_$h; its log:"
			tail -30 "$log" | sed 's/^/    /'
		} >"$work/$h.out"
	fi
}
selected=()
for h in wire topic topic_tiny definitions cron parse control; do
	tw_test_selected "$build/fuzz/fuzz_$h" && selected+=("$h")
done
for ((i = 0; i < ${#selected[@]}; i += jobs)); do
	batch=("${selected[@]:i:jobs}")
	for h in "${batch[@]}"; do fuzz_one "$h" & done
	wait
	for h in "${batch[@]}"; do cat "$work/$h.out"; done
done
passed=0
failed=0
for h in ${selected[@]+"${selected[@]}"}; do
	if [ "$(cat "$work/$h.rc" 2>/dev/null)" = 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done
rm -rf "$work"
# fuzz_parse and fuzz_control run DPDK's EAL (in memory): their runtime
# folders; fuzz_control's result store
rm -rf /var/run/dpdk/tw-fuzzparse /var/run/dpdk/tw-fuzzctl /tmp/tw-fuzzctl-*
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
