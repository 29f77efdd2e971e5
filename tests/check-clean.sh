#!/usr/bin/env bash
# After the tests: no taskwire process, namespace or hugepage file left.
set -uo pipefail
rc=0
# every program the tests start: engines, publishers, load generators, remote workers (C and
# Python), the lossy relay,
# the dashboard test's headless browser (its profiles are tw-dash.*)
procs='build[^/ ]*/(tw-dataplane|tw-control|tw-publish-bench|tw-loadgen|tw-worker|twctl)|-m taskwire worker|-m daphne|lossy_relay.py|dashboard_cdp.py|user-data-dir=[^ ]*/tw-dash\.'
if pgrep -f "$procs" >/dev/null; then
	echo "check-clean: taskwire processes left running:"; pgrep -af "$procs"
	rc=1
fi
if ip netns list | grep -E '^tw-' ; then
	echo "check-clean: namespaces left (above)"
	rc=1
fi
if compgen -G "/dev/hugepages/tw-*" >/dev/null; then
	echo "check-clean: hugepage files left:"; ls /dev/hugepages/tw-*
	rc=1
fi
[ $rc -eq 0 ] && echo "check-clean: nothing left behind"
exit $rc
