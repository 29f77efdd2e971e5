#!/usr/bin/env bash
# Generate the Python protobuf modules of the wire and control contracts
# (proto/*.proto) into build/python/ (or $1). They are build output, never
# committed: the .proto files stay the one source of truth, and the code
# always matches the protoc that Debian ships with python3-protobuf.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build/python}
mkdir -p "$out"
protoc --proto_path="$root/proto" --python_out="$out" "$root"/proto/*.proto
echo "taskwire python: generated $(cd "$out" && ls ./*_pb2.py | tr '\n' ' ')in $out"
