#!/usr/bin/env bash
# Install the Debian packages named as arguments that are missing, without
# letting their own services start (policy-rc.d): the peer benchmarks run
# private instances (Redis, RabbitMQ, NATS) on ports and folders of their own.
set -uo pipefail
missing=()
for p in "$@"; do
	[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing ${missing[*]}"
had_policy=0
[ -e /usr/sbin/policy-rc.d ] && had_policy=1
if [ $had_policy -eq 0 ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi
DEBIAN_FRONTEND=noninteractive apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
rc=$?
[ $had_policy -eq 0 ] && rm -f /usr/sbin/policy-rc.d
exit $rc
