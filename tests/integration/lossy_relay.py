"""A lossy, reordering UDP relay for the at-least-once test: publishers
send to LISTEN, the relay forwards to the engine from its own socket and
sends the engine's replies back to the publisher, dropping a fixed share
of the datagrams each way and holding back another share until the next
datagram in the same direction has gone (so those two arrive swapped; a
held one leaves after 50 ms at the latest). Seeded, so runs repeat. It
stands in for `tc qdisc ... netem loss ... reorder` on kernels without
sch_netem; it prints its counts on SIGTERM.

Each source gets a socket of its own toward the engine, so the engine's
replies go back to the socket they answer (a tw-amqp has one for its
publishes and one per consumer). With HOLD_FILE, while that file exists
every datagram toward the engine that carries a Subscribe is dropped
(counted subscribes_dropped): an engine that does not answer a subscribe;
with HOLD_FIELD cancel, every datagram with a Cancel instead (counted
cancels_dropped).

    python3 lossy_relay.py LISTEN_IP:PORT ENGINE_IP:PORT LOSS_PERCENT SEED [REORDER_PERCENT
                           [HOLD_FILE [HOLD_FIELD]]]
"""
import os
import random
import select
import signal
import socket
import sys
import time


def addr(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


FRAME_SUBSCRIBE = 10  # Frame.subscribe (proto/taskwire.proto)
FRAME_CANCEL = 11     # Frame.cancel


def varint(data, i):
    v = shift = 0
    while i < len(data):
        b = data[i]
        i += 1
        v |= (b & 0x7f) << shift
        shift += 7
        if b < 0x80:
            return v, i
    raise ValueError("varint past the end")


def has_field(data, want):
    """Whether a frame has top-level field `want` (a walk over its fields)."""
    i = 0
    try:
        while i < len(data):
            key, i = varint(data, i)
            if key >> 3 == want:
                return True
            wt = key & 7
            if wt == 0:
                _, i = varint(data, i)
            elif wt == 1:
                i += 8
            elif wt == 5:
                i += 4
            elif wt == 2:
                n, i = varint(data, i)
                i += n
            else:
                return False
    except ValueError:
        return False
    return False


def main():
    listen, engine = addr(sys.argv[1]), addr(sys.argv[2])
    loss, rng = float(sys.argv[3]) / 100.0, random.Random(int(sys.argv[4]))
    reorder = float(sys.argv[5]) / 100.0 if len(sys.argv) > 5 else 0.0
    hold_file = sys.argv[6] if len(sys.argv) > 6 else None
    hold_cancel = len(sys.argv) > 7 and sys.argv[7] == "cancel"
    hold_field, hold_key = ((FRAME_CANCEL, "cancels_dropped") if hold_cancel
                            else (FRAME_SUBSCRIBE, "subscribes_dropped"))
    held = {}  # direction -> (data, dest, socket, since): sent after the next one
    front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    front.bind(listen)
    backs = {}    # source address -> its socket toward the engine
    sources = {}  # that socket -> the source address
    counts = {"to_engine": 0, "to_engine_dropped": 0, "to_publisher": 0,
              "to_publisher_dropped": 0, "reordered": 0, "subscribes_dropped": 0,
              "cancels_dropped": 0}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("relay ready", flush=True)
    while not stop:
        try:
            ready, _, _ = select.select([front] + list(sources), [], [], 0.2)
        except InterruptedError:
            continue
        for s in ready:
            data, src = s.recvfrom(65536)
            if s is front:
                if src not in backs:
                    back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    back.bind((listen[0], 0))
                    backs[src] = back
                    sources[back] = src
                if hold_file and os.path.exists(hold_file) and has_field(data, hold_field):
                    counts[hold_key] += 1
                    continue
                key, dest, out = "to_engine", engine, backs[src]
            else:
                key, dest, out = "to_publisher", sources[s], front
            if rng.random() < loss:
                counts[key + "_dropped"] += 1
                continue
            counts[key] += 1
            if key not in held and rng.random() < reorder:
                held[key] = (data, dest, out, time.monotonic())
                continue
            out.sendto(data, dest)
            if key in held:
                # the one held back goes after this one: the two are swapped
                h = held.pop(key)
                h[2].sendto(h[0], h[1])
                counts["reordered"] += 1
        for key in [k for k, h in held.items() if time.monotonic() - h[3] > 0.05]:
            h = held.pop(key)
            h[2].sendto(h[0], h[1])
    print(" ".join("%s=%d" % kv for kv in sorted(counts.items())), flush=True)


if __name__ == "__main__":
    main()
