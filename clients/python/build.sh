#!/usr/bin/env bash
# Generate the Python protobuf modules of the wire and control contracts
# (proto/*.proto) into build/python/ (or $1). They are build output, never
# committed: the .proto files stay the one source of truth, and the code
# always matches the protoc that Debian ships with python3-protobuf.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build/python}
mkdir -p "$out"
# into a folder of its own first, then each module renamed into place: a
# test running beside this one may be importing them (run.sh's lanes),
# and must see the old file or the new one, never a part written
tmp=$(mktemp -d "$out/.gen.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
protoc --proto_path="$root/proto" --python_out="$tmp" "$root"/proto/*.proto
for f in "$tmp"/*_pb2.py; do mv -f "$f" "$out/"; done
echo "taskwire python: generated $(cd "$out" && ls ./*_pb2.py | tr '\n' ' ')in $out"
