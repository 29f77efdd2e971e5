#!/usr/bin/env bash
# make test: every suite, then a check that nothing was left behind.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rc=0
bash "$root/tests/run-unit.sh" || rc=1
bash "$root/tests/integration/run.sh" || rc=1
if [ -z "${TW_SANITIZED:-}" ]; then
	bash "$root/tests/run-fuzz.sh" || rc=1
else
	echo "fuzz: not repeated in a sanitized run (the harnesses always build with ASan and UBSan; the plain make test runs them)"
fi
bash "$root/tests/check-clean.sh" || rc=1
if [ $rc -eq 0 ]; then echo "make test: all suites passed"; else echo "make test: FAILED"; fi
exit $rc
