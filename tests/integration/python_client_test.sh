#!/usr/bin/env bash
# The pure-Python client (clients/python) against a real engine: its pytest
# suite (unit tests with a fake engine on loopback, then publishing,
# results, errors and workflows through the engine). Run by run.sh in an
# engine's environment (TW_SOCKET, TW_ENGINE, TW_NETNS, ...); the protobuf
# modules are generated first into build/python/.
# Its sleep_us tasks busy-wait up to 300 ms:
# engine options: --solo-max-us 300000
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bash "$root/clients/python/build.sh" "${TW_BUILD:-$root/build}/python"
# tw-control's HTTP side: the Django pages' view-token URLs
[ -n "${TW_METRICS:-}" ] || TW_METRICS=$(sed -n 's|^tw-control: metrics on http://\(.*\)/metrics$|\1|p' "$TW_DIR/control.log")
export TW_PYTHON_GEN=${TW_BUILD:-$root/build}/python TW_ENGINE TW_SOCKET TW_METRICS
# Debian's interpreter: it sees python3-protobuf and python3-pytest; no
# cache files in the source tree
cd "$root"
# TW_PYTEST_ARGS: other pytest arguments (one file, -k ...) when run by hand
# shellcheck disable=SC2086
ip netns exec "$TW_NETNS" /usr/bin/python3 -B -m pytest -q -rs -p no:cacheprovider \
	${TW_PYTEST_ARGS:-clients/python/tests}
