#!/usr/bin/env bash
# After the tests: no taskwire process, namespace or hugepage file left.
set -uo pipefail
rc=0
if pgrep -f 'build/(tw-dataplane|tw-control)' >/dev/null; then
	echo "check-clean: taskwire processes left running:"; pgrep -af 'build/(tw-dataplane|tw-control)'
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
