#!/usr/bin/env bash
# Unit tests (cmocka, no engine): tests/unit and the data-plane stage tests.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/select.sh"
passed=0
failed=0
build=${TW_BUILD:-$root/build}
for bin in "$build"/tests/unit/*_test "$build"/tests/dp/*_test; do
	[ -x "$bin" ] || continue
	tw_test_selected "$bin" || continue
	name=$(basename "$bin")
	t0=$SECONDS
	if out=$(timeout 300 "$bin" 2>&1); then
		passed=$((passed + 1))
		echo "PASS $name ($((SECONDS - t0)) s)"
	else
		failed=$((failed + 1))
		echo "FAIL $name; its output:"
		echo "$out" | sed 's/^/    /'
	fi
done
# (the data-plane tests remove their own EAL runtime folders, tw-dptest-NAME-PID)
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
