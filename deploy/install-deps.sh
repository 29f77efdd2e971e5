#!/usr/bin/env bash
# Install, from Debian 12's packages, whatever taskwire needs and is missing.
# Idempotent: with everything present it only checks (no apt-get update).
set -euo pipefail

PACKAGES=(
	gcc make pkgconf                     # build
	libdpdk-dev dpdk dpdk-dev            # DPDK 22.11; dpdk-dev: dpdk-testpmd (perf baseline), dpdk-telemetry.py
	protobuf-c-compiler libprotobuf-c-dev
	libhwloc-dev libnuma-dev             # lcore plan
	libjansson-dev                       # twctl --json, definitions
	liblmdb-dev libmicrohttpd-dev        # result store, HTTP endpoints
	nettle-dev                           # SHA-1 and base64 of the WebSocket handshake
	libcmocka-dev                        # unit tests
	clang libclang-rt-14-dev             # libFuzzer harnesses (make fuzz, short runs in make test)
	iproute2 procps psmisc               # namespaces and TAP for tests, process checks
	strace                               # durable_test: kill -9 of the engine at a chosen system call of its recovery
	gnuplot-nox                          # make perf: latency against offered load
	chromium fonts-dejavu-core           # dashboard test: headless Chromium loads tw-control's page, dumps its DOM, screenshots it
	python3                              # test helpers: lossy relay, HTTP client, the dashboard test's browser driver
	python3-protobuf protobuf-compiler   # the Python client (clients/python): modules generated from proto/
	python3-pytest python3-django        # its tests (make test) and its Django example
	python3-venv python3-setuptools python3-wheel  # pip install ./clients/python offline (its test)
	python3-django-channels python3-msgpack  # the Channels layer on taskwire (taskwire.contrib.channels)
	python3-channels-redis               # make perf-channels: channels_redis beside it (redis-server: perf/install-services.sh)
	python3-pika python3-amqp python3-kombu python3-celery  # tw-amqp's tests: unmodified AMQP 0-9-1 clients
	python3-gevent python3-eventlet      # make perf-async: Celery's gevent and eventlet pools beside taskwire's asyncio one
)

missing=()
for p in "${PACKAGES[@]}"; do
	# "install ok installed" is the only state that counts as present
	if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing ${missing[*]}; run as root (or: sudo $0)" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
