"""Workflow steps larger than one packet buffer (bigsteps_test.sh).

As a worker's app (`python3 -m taskwire worker -A bigsteps -Q big`):
  big.blob(n)        a string of n bytes: a parent's result of several kB
  big.measure(*a)    what it was given, measured: each str by its length,
                     each list item by item (a chord's results list)

As the test's publisher (`bigsteps.py CASE ...`, TW_ENGINE, TW_SOCKET):
  chain N [ARGS_BYTES]       chain(blob(N), measure(ARGS_BYTES bytes)):
                             prints the chain's result
  chord M N                  chord(M x blob(N)) | measure: prints its result
  durable N QUEUE            chain(blob(N), measure on QUEUE), not waited
                             for: prints the id of the second step
  exhaust K QUEUE            K chains of an in-engine echo of 1,900 bytes and
                             a measure of 5,000 bytes of args on QUEUE (no
                             one serves it): each second step takes about
                             12 kB, one large buffer of the medium class;
                             prints "parked P refused R", then each
                             refusal's error
  exhaust-chord K QUEUE      the same with K chords of six in-engine echoes
                             of 1,900 bytes and a measure on QUEUE: each
                             callback carries its group's results (about
                             11 kB, the medium class again)
"""
import json
import os
import sys
import time

import taskwire

app = taskwire.App("bigsteps")
app.conf.task_default_queue = "big"


@app.task(name="big.blob")
def blob(n):
    return "b" * n


def _measure(v):
    if isinstance(v, str):
        return len(v)
    if isinstance(v, list):
        return [_measure(x) for x in v]
    return v


@app.task(name="big.measure")
def measure(*args):
    return [_measure(a) for a in args]


def _client():
    c = taskwire.Client(default_queue="big")
    return c


def main(argv):
    case = argv[1]
    c = _client()
    b, m = c.task("big.blob"), c.task("big.measure")
    try:
        if case == "chain":
            extra = ("a" * int(argv[3]),) if len(argv) > 3 else ()
            r = taskwire.chain(b.s(int(argv[2])), m.s(*extra)).apply_async()
            print(json.dumps(r.get(timeout=30)))
        elif case == "chord":
            hdr = taskwire.group([b.s(int(argv[3])) for _ in range(int(argv[2]))],
                                 result_cell=4096)
            r = taskwire.chord(hdr, m.s()).apply_async()
            print(json.dumps(r.get(timeout=30)))
        elif case == "durable":
            r = taskwire.chain(b.s(int(argv[2])), m.s().set(queue=argv[3])).apply_async()
            print(r.id)
        elif case in ("exhaust", "exhaust-chord"):
            k, queue = int(argv[2]), argv[3]
            echo = c.task("echo")
            if case == "exhaust":
                rs = [taskwire.chain(echo.s("e" * 1900).set(queue="jobs"),
                                     m.s("p" * 5000).set(queue=queue)).apply_async()
                      for _ in range(k)]
            else:
                rs = [taskwire.chord(taskwire.group([echo.s("e" * 1900).set(queue="jobs")
                                                     for _ in range(6)], result_cell=2048),
                                     m.s().set(queue=queue)).apply_async()
                      for _ in range(k)]
            parked, errors = 0, []
            deadline = time.monotonic() + 4
            for r in rs:
                try:
                    r.get(timeout=max(0.2, deadline - time.monotonic()))
                    errors.append("ran although no one serves %s" % queue)
                except taskwire.ResultTimeout:
                    parked += 1
                except Exception as e:  # noqa: BLE001 - the FAILURE's message is the point
                    errors.append(str(e))
            print("parked %d refused %d" % (parked, len(errors)))
            for e in errors:
                print(e)
        else:
            sys.exit("unknown case " + case)
    finally:
        c.close()


if __name__ == "__main__":
    main(sys.argv)
