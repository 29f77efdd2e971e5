"""Groups and chords across a crash of tw-dataplane (durable_groups_test.sh).

As a worker's app (`python3 -m taskwire worker -A durable_groups -Q dg`),
each run appended to $TW_DG_RUNS as one line:
  dg.part(k, i)        k * 10 + i, after $TW_DG_SLEEP seconds  ("part k i")
  dg.collect(rs, k)    a chord's callback: [k, rs]             ("collect k rs")
  dg.bump(x)           x + 1, a chain's second step            ("bump x")

As the test's publisher (TW_ENGINE, TW_SOCKET):
  durable_groups.py publish N M OUT
        N chords of M parts (k = 0..N-1) with collect as callback, a group
        of M parts (k = 100) and a chain part(200, 0) | bump, all on the
        default queue dg; waits for every confirm; writes their ids to OUT
  durable_groups.py check OUT N M TIMEOUT
        every chord's callback result is [k, [k*10 .. k*10+M-1]], the
        group's members 1000..1000+M-1, the chain 2001 (from the store)
  durable_groups.py craft SEGMENT OUT K1 K2 M
        a journal segment as a crash would leave it: chord K1 with M-2
        members done and 2 lost, chord K2 with all done and no callback;
        their callbacks' ids to OUT
  durable_groups.py results OUT TIMEOUT
        prints the results of the ids in OUT (JSON {name: id}), in order
"""
import json
import os
import struct
import sys
import time

import taskwire

app = taskwire.App("durable_groups")
app.conf.task_default_queue = "dg"
SLEEP = float(os.environ.get("TW_DG_SLEEP", "0"))


def _log(line):
    # one write per line, O_APPEND: whole lines from concurrent threads
    fd = os.open(os.environ["TW_DG_RUNS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@app.task(name="dg.part")
def part(k, i):
    time.sleep(SLEEP)
    _log("part %d %d" % (k, i))
    return k * 10 + i


@app.task(name="dg.collect")
def collect(rs, k):
    _log("collect %d %s" % (k, json.dumps(rs)))
    return [k, rs]


@app.task(name="dg.bump")
def bump(x):
    _log("bump %d" % x)
    return x + 1


def _crc32c(data, crc=0xFFFFFFFF):
    # CRC-32C (Castagnoli), reflected, no final inversion: DPDK's rte_hash_crc
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc


def _record(typ, jid, group_id, meta, body, expire_ms=0):
    """One journal record (common/tw_journal_format.h): a 56-byte header,
    meta (struct tw_jgroup_meta) in the queue name's place, body, padding
    to 8; the crc over the record from byte 4 (its length on)."""
    n = 56 + len(meta) + len(body)
    ln = (n + 7) & ~7
    hdr = struct.pack("<IIBBBBHHIIQQ6s2sQ", 0, ln, typ, 0, 0, 0, len(meta), 0, len(body), 0,
                      jid, group_id, b"\0" * 6, b"\0" * 2, expire_ms)
    rec = bytearray(hdr + meta + body + b"\0" * (ln - n))
    struct.pack_into("<I", rec, 0, _crc32c(bytes(rec[4:])))
    return bytes(rec)


def craft(c, seg, out, k_part, k_all, m):
    """A journal segment (number 0, read first) of a run before: chord
    k_part with members 0..m-3 done (their results recorded) and the last
    two never written (lost before their records were), chord k_all with
    every member done and its callback never made. Writes the two
    callbacks' ids to out."""
    from taskwire import canvas as cv
    p, col = c.task("dg.part"), c.task("dg.collect")
    epoch, recs, ids = 0x7FFF, [], {}
    now_ms = int(time.time() * 1000)
    for n, (k, done) in enumerate(((k_part, m - 2), (k_all, m))):
        top = cv.Encoder(c).encode(taskwire.chord([p.s(k, i) for i in range(m)], col.s(k)))
        gjid = (epoch << 48) | (1 << 40) | (n + 1)
        recs.append(_record(5, gjid, top.id, struct.pack("<IIII", 0, 64, 0, 0),
                            top.SerializeToString(), now_ms + 120000))
        for i in range(done):
            recs.append(_record(6, gjid, top.id, struct.pack("<IIII", 0, 0, i, 0),
                                json.dumps(k * 10 + i).encode()))
        ids[str(k)] = "%016x" % top.next.id
    with open(seg, "wb") as f:
        f.write(struct.pack("<IIQ", 0x314A5754, 3, 0) + b"".join(recs))
    with open(out, "w") as f:
        json.dump(ids, f)


def _results(c, ids, timeout):
    """The final results of ids from the store, asked round after round
    (get() with no wait: a round is quick) until all are in or timeout."""
    got, deadline = {}, time.monotonic() + timeout
    while True:
        for t in ids:
            if t not in got:
                try:
                    got[t] = c.AsyncResult(t).get(timeout=0)
                except taskwire.ResultTimeout:
                    pass
        if len(got) == len(ids) or time.monotonic() >= deadline:
            return got
        time.sleep(0.1)


def main(argv):
    case = argv[1]
    c = taskwire.Client(default_queue="dg")
    p, col, b = c.task("dg.part"), c.task("dg.collect"), c.task("dg.bump")
    try:
        if case == "publish":
            n, m, out = int(argv[2]), int(argv[3]), argv[4]
            ids = {"chords": []}
            for k in range(n):
                r = taskwire.chord([p.s(k, i) for i in range(m)], col.s(k)).apply_async()
                ids["chords"].append([k, r.id])
            g = taskwire.group([p.s(100, i) for i in range(m)]).apply_async()
            ids["group"] = [r.id for r in g.results]
            ids["chain"] = taskwire.chain(p.s(200, 0), b.s()).apply_async().id
            if not c.wait_confirms(30):
                sys.exit("not every workflow was confirmed in 30 s")
            with open(out, "w") as f:
                json.dump(ids, f)
            print("published %d chords of %d, a group, a chain: confirmed" % (n, m))
        elif case == "check":
            ids = json.load(open(argv[2]))
            n, m, timeout = int(argv[3]), int(argv[4]), float(argv[5])
            want = {cid: [k, [k * 10 + i for i in range(m)]] for k, cid in ids["chords"]}
            want.update({tid: 1000 + i for i, tid in enumerate(ids["group"])})
            want[ids["chain"]] = 2001
            got = _results(c, list(want), timeout)
            bad = ["%s: %r, want %r" % (t, got.get(t), w) for t, w in want.items()
                   if got.get(t) != w]
            for line in bad:
                print(line)
            if bad:
                sys.exit(1)
            print("checked %d chords, a group, a chain: results as expected" % n)
        elif case == "results":
            ids = json.load(open(argv[2]))
            got = _results(c, list(ids.values()), float(argv[3]))
            for name, t in sorted(ids.items()):
                print(name, json.dumps(got.get(t)))
        elif case == "craft":
            craft(c, argv[2], argv[3], int(argv[4]), int(argv[5]), int(argv[6]))
        else:
            sys.exit("unknown case " + case)
    finally:
        c.close()


if __name__ == "__main__":
    main(sys.argv)
