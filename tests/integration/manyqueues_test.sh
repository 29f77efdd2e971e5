#!/usr/bin/env bash
# engine options: --mbufs 8191 --task-descriptors 16383 --group-memory-mb 8
# 65,536 queues and 65,536 exchanges in one engine, through the real binaries:
#  1. one definitions import declares them, with a fanout exchange x<i>
#     bound to queue q<i> each (one table build); one more of either is
#     refused with the limit in its message;
#  2. memory follows use: the queues' shared memory (slots, first ring
#     segments, counter blocks) and the engine's hugepage files grow by a
#     few kilobytes per queue (a queue of the default max-length as one
#     ring would take 512 KiB: 32 GiB for all of them);
#  3. listings page: `twctl list queues` (its table) and `list exchanges
#     --json` give every one of them (no single 4 MiB reply could);
#  4. routing is exact and every task runs once: a task published to each
#     exchange of a sample (the first ones, block edges, the last ones)
#     runs to SUCCESS; its queue counts it published and delivered once,
#     every other queue and exchange counts nothing;
#  5. deletes give memory back and routing forgets them: the last 2
#     queues deleted (each a table rebuild over all the rest), the last
#     exchange's tasks then unroutable; a freed slot is taken again.
set -euo pipefail
. "$(dirname "$0")/it_lib.sh"
py=/usr/bin/python3
N=65536
# Sanitized (CI's second run, a few times slower per declare and listed
# item), the same paths at an eighth of the scale: several counter blocks,
# pages and bitmap words; the as-built run proves the limits.
[ -z "${TW_SANITIZED:-}" ] || N=8192
# a sample of the first and last slots, counter-block and bitmap-word edges
SAMPLE="0 63 64 4095 $((N - 1))"
# bytes of the engine's hugepage files (its DPDK heap, both processes)
huge_bytes() { du -cb /dev/hugepages/"${TW_PREFIX}"map_* 2>/dev/null | tail -1 | cut -f1; }
b36() {
	local d=0123456789abcdefghijklmnopqrstuvwxyz i=$1 s=''
	for _ in 1 2 3 4; do
		s=${d:$((i % 36)):1}$s
		i=$((i / 36))
	done
	echo "$s"
}

# names q<i>/x<i>, i in base 36 (four digits): the request stays under 4 MiB
$py - "$TW_DIR/many.json" "$N" <<'EOF'
import json, sys
n = int(sys.argv[2])
d = "0123456789abcdefghijklmnopqrstuvwxyz"
def b36(i):
    s = ""
    for _ in range(4):
        s = d[i % 36] + s
        i //= 36
    return s
doc = {
    "exchanges": [{"name": "x" + b36(i), "type": "fanout"} for i in range(n)],
    "queues": [{"name": "q" + b36(i)} for i in range(n)],
    "bindings": [{"source": "x" + b36(i), "destination": "q" + b36(i),
                  "destination_type": "queue", "routing_key": ""} for i in range(n)],
}
json.dump(doc, open(sys.argv[1], "w"), separators=(",", ":"))
EOF

# 1 + 2
mem0=$(control_counter queues_memory_bytes)
huge0=$(huge_bytes)
t0=$(date +%s%N)
twctl definitions import "$TW_DIR/many.json" >"$TW_DIR/import.txt" 2>&1 ||
	fail "import: $(cat "$TW_DIR/import.txt")"
ms=$((($(date +%s%N) - t0) / 1000000))
grep -q "imported $N exchanges, $N queues, $N bindings" "$TW_DIR/import.txt" ||
	fail "import output: $(cat "$TW_DIR/import.txt")"
mem1=$(control_counter queues_memory_bytes)
routes=$(control_counter routes_memory_bytes)
huge1=$(huge_bytes)
per_q=$(((mem1 - mem0) / N))
per_obj=$(((huge1 - huge0) / N))
echo "import of $N queues, $N exchanges, $N bindings: $ms ms; queues' memory $((mem1 / 1048576)) MiB" \
	"($per_q bytes a queue), routing table $((routes / 1048576)) MiB, hugepage files" \
	"+$(((huge1 - huge0) / 1048576)) MiB ($per_obj bytes per queue, exchange and binding) [${SECONDS}s in]"
[ "$per_q" -gt 0 ] && [ "$per_q" -lt 4096 ] || fail "a queue takes $per_q bytes before it holds anything"
[ "$per_obj" -lt 16384 ] || fail "the engine's heap grew $per_obj bytes per queue and exchange"
if [ "$N" = 65536 ]; then
	twctl exchange declare one-too-many fanout 2>"$TW_DIR/over.txt" &&
		fail "an exchange past $N was declared"
	grep -q "too many exchanges (limit $N)" "$TW_DIR/over.txt" ||
		fail "limit message: $(cat "$TW_DIR/over.txt")"
	twctl queue declare one-too-many 2>"$TW_DIR/over.txt" && fail "a queue past $N was declared"
	grep -q "too many queues (limit $N)" "$TW_DIR/over.txt" ||
		fail "limit message: $(cat "$TW_DIR/over.txt")"
	echo "ok: $N queues and $N exchanges declared, one more of either refused [${SECONDS}s in]"
fi

# 4 (before 3: the listings check the counts)
for i in $SAMPLE; do
	out=$(publish "x$(b36 "$i")" k noop --wait 10) || fail "publish to x$(b36 "$i"): $out"
	grep -q "SUCCESS" <<<"$out" || fail "task on x$(b36 "$i"): $out"
done
echo "ok: $(echo $SAMPLE | wc -w) tasks ran [${SECONDS}s in]"

# 3: both listings whole, paged; the counts of 4 in them
t0=$(date +%s%N)
twctl list queues >"$TW_DIR/queues.txt" || fail "list queues"
twctl --json list exchanges >"$TW_DIR/exchanges.json" || fail "list exchanges"
lms=$((($(date +%s%N) - t0) / 1000000))
$py - "$TW_DIR/queues.txt" "$TW_DIR/exchanges.json" "$N" "$SAMPLE" <<'EOF' || fail "listings"
import json, sys
d = "0123456789abcdefghijklmnopqrstuvwxyz"
def b36(i):
    s = ""
    for _ in range(4):
        s = d[i % 36] + s
        i //= 36
    return s
# the queues' table (the operator's view; --json is the exchanges'): name,
# max_length, ready, in_flight, workers, published, delivered, ...
rows = []
for l in open(sys.argv[1]):
    if not l.strip():
        break  # the tables after it: queues with policies or remote consumers
    rows.append(l.split())
assert rows and rows[0][:7] == ["name", "max_length", "ready", "in_flight", "workers",
                                "published", "delivered"], rows[:1]
qs = [{"name": r[0], "ready": int(r[2]), "published": int(r[5]), "delivered": int(r[6])}
      for r in rows[1:]]
xs, n = json.load(open(sys.argv[2])), int(sys.argv[3])
sample = {int(s) for s in sys.argv[4].split()}
names = [q["name"] for q in qs]
assert len(names) == n and len(set(names)) == n, "%d queues listed (%d names)" % (len(names), len(set(names)))
assert len(xs) == n + 1, "%d exchanges listed" % len(xs)
want_q = {"q" + b36(i) for i in sample}
want_x = {"x" + b36(i) for i in sample}
bad = [(q["name"], q["published"], q["delivered"], q["ready"]) for q in qs
       if (q["published"], q["delivered"]) != ((1, 1) if q["name"] in want_q else (0, 0))
       or q["ready"] != 0]
assert not bad, "queue counts off: %s" % bad[:5]
bad = [(x["name"], x["published"], x["routed"]) for x in xs
       if (x["published"], x["routed"]) != ((1, 1) if x["name"] in want_x else (0, 0))]
assert not bad, "exchange counts off: %s" % bad[:5]
EOF
echo "ok: $(echo $SAMPLE | wc -w) tasks each ran once in its own queue; listings of $N queues and" \
	"$((N + 1)) exchanges in pages: $lms ms [${SECONDS}s in]"

# 5: deletes
before=$(control_counter queues_memory_bytes)
last=$(b36 $((N - 1)))
t0=$(date +%s%N)
for i in $((N - 2)) $((N - 1)); do
	twctl queue delete "q$(b36 "$i")" >/dev/null || fail "delete q$(b36 "$i")"
done
dms=$((($(date +%s%N) - t0) / 2000000))
after=$(control_counter queues_memory_bytes)
[ "$after" -lt "$before" ] || fail "2 deletes: queues' memory $before -> $after"
out=$(publish "x$last" k noop 2>&1) && fail "a task to x$last was taken after its queue went: $out"
grep -q "NACK unroutable" <<<"$out" || fail "publish to x$last after its queue went: $out"
twctl exchange delete "x$last" >/dev/null || fail "delete x$last"
twctl queue declare "q$last" >/dev/null || fail "a queue in a freed slot"
echo "ok: 2 deletes gave back $((before - after)) bytes ($dms ms each); x$last routes nowhere; a freed slot taken again [${SECONDS}s in]"
