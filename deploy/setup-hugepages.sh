#!/usr/bin/env bash
# Reserve 2 MiB hugepages and mount hugetlbfs, idempotently. tw-dataplane
# needs them whenever tw-control (a DPDK secondary process) must attach.
#   TW_HUGEPAGES  pages to have at least (default 512 = 1 GiB)
set -euo pipefail

want=${TW_HUGEPAGES:-512}
nr=/proc/sys/vm/nr_hugepages
mnt=/dev/hugepages

if [ "$(id -u)" -ne 0 ]; then
	echo "setup-hugepages: must run as root" >&2
	exit 1
fi
have=$(cat "$nr")
if [ "$have" -lt "$want" ]; then
	echo "$want" > "$nr"
	have=$(cat "$nr")
	if [ "$have" -lt "$want" ]; then
		echo "setup-hugepages: asked for $want hugepages, the kernel gave $have" >&2
		exit 1
	fi
fi
if ! mountpoint -q "$mnt"; then
	mkdir -p "$mnt"
	mount -t hugetlbfs -o pagesize=2M nodev "$mnt"
fi
