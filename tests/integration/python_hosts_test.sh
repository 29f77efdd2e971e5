#!/usr/bin/env bash
# Python workers on another host: a second network namespace stands for a
# GPU machine, reaching the engine through a routed veth link (as a worker
# host on the application network would), and runs the "gpu" steps of a
# pipeline whose other steps run in a worker beside the engine.
#  1. a chain prepare (local worker) -> render (GPU host worker) -> publish
#     (local): each step ran where its queue's consumer lives (the task
#     reports its network namespace), the result is the whole pipeline's;
#  2. a chord of 6 renders on the GPU host (concurrency 1: they queue
#     there) joined by a local step;
#  3. a GPU worker killed (-9) while it runs a render: its prefork child
#     dies with it, and the render is delivered again to the other GPU
#     worker once the lease runs out; it ran twice in all, one result.
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
root=$TW_ROOT
gpu="tw-${TW_IT_TAG:-}gpuhost"
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		tw_stop_pid "$p" || true
	done
	it_host_del "$gpu"
}
trap cleanup EXIT

bash "$root/clients/python/build.sh" "$TW_BUILD/python" >/dev/null
export TW_PYTHON_GEN=$TW_BUILD/python
app_dir=$root/tests/integration/data/hosts_app
export PYTHONPATH=$root/clients/python:$app_dir

# the GPU host
it_host_add "$gpu"

for q in local gpu; do twctl queue declare "$q" >/dev/null; done

# worker NS QUEUE ARGS...: a worker in namespace NS, its log in $TW_DIR
worker() {
	local ns=$1 q=$2 log; shift 2
	log=$TW_DIR/worker-$ns-$q-$RANDOM.log
	ip netns exec "$ns" env TW_ENGINE="$TW_ENGINE" /usr/bin/python3 -B -m taskwire worker \
		-A hosts_tasks -Q "$q" "$@" >"$log" 2>&1 &
	pids+=($!)
	tw_wait_for_line "$log" "taskwire worker: ready" "$!" 20 || fail "worker in $ns: $(cat "$log")"
	last_pid=$!
}
worker "$TW_NETNS" local -P threads -c 2
worker "$gpu" gpu -P prefork -c 1 --lease-ms 2500

ns_inode() { ip netns exec "$1" stat -L -c %i /proc/self/ns/net; }
here=$(ns_inode "$TW_NETNS")
there=$(ns_inode "$gpu")
[ "$here" != "$there" ] || fail "the two namespaces are one"

# Python in the engine's namespace, publishing and checking
py() {
	ip netns exec "$TW_NETNS" env TW_ENGINE="$TW_ENGINE" TW_SOCKET="$TW_SOCKET" HERE="$here" \
		THERE="$there" /usr/bin/python3 -B -c "$1"
}

# 1 and 2
py '
import os, taskwire
from hosts_tasks import app, prepare, render, publish, collect
here, there = os.environ["HERE"], os.environ["THERE"]
r = app.client.apply_canvas(taskwire.chain(prepare.s("a cat"), render.s(), publish.s()))
v = r.get(timeout=30)
assert v["steps"] == [["prepare", here], ["render", there], ["publish", here]], v
print("ok: chain prepare (here) -> render (GPU host) -> publish (here)")
r = app.client.apply_canvas(taskwire.chord([render.s({"steps": [], "idea": "shot %d" % i})
                                            for i in range(6)], collect.s()))
v = r.get(timeout=60)
assert v["shots"] == 6 and v["where"] == [there] * 6, v
print("ok: chord of 6 renders on the GPU host (one at a time), joined here")
' || fail "pipelines across the two hosts"

# 3. a GPU worker dies holding a render (shorter than the lease, as a
# render must be or report progress, which extends the lease): a second
# GPU worker is up (a
# queue left with no remote consumer at all goes back to the engine's own
# lcores), the render is published, the worker running it killed (-9);
# the result is read from the store
worker "$gpu" gpu -P prefork -c 1 --lease-ms 2500
marker=$TW_DIR/render-started
id=$(py "
from hosts_tasks import render
print(render.delay({'steps': [], 'idea': 'slow', 'seconds': 1.5, 'marker': '$marker'}).id)
") || fail "publishing the slow render"
for ((i = 0; i < 200; i++)); do
	[ -s "$marker" ] && break
	tw_nap 0.1
done
[ -s "$marker" ] || fail "no GPU worker started the slow render"
child=$(awk 'NR == 1 { print $1 }' "$marker")
victim=$(awk '{ print $4 }' "/proc/$child/stat")
kill -KILL "$victim"
# its children die with it (PR_SET_PDEATHSIG): none may finish the render a second time
for ((i = 0; i < 50; i++)); do
	kill -0 "$child" 2>/dev/null || break
	tw_nap 0.1
done
kill -0 "$child" 2>/dev/null && fail "child $child outlived its killed worker $victim"
echo "ok: the GPU worker running the render killed (-9); its child $child died with it"
py "
import os
from hosts_tasks import app
v = app.client.AsyncResult('$id').get(timeout=60)
assert v['steps'] == [['render', os.environ['THERE']]] and v['delivery_count'] >= 2, v
print('ok: delivered again (count %d) to the other GPU worker' % v['delivery_count'])
" || fail "the render after its GPU worker died"
runs=$(wc -l <"$marker")
[ "$runs" -eq 2 ] || fail "the render started $runs times: $(cat "$marker")"
echo "python_hosts_test: all passed"
