"""A lossy, reordering UDP relay for the at-least-once test: publishers
send to LISTEN, the relay forwards to the engine from its own socket and
sends the engine's replies back to the publisher, dropping a fixed share
of the datagrams each way and holding back another share until the next
datagram in the same direction has gone (so those two arrive swapped; a
held one leaves after 50 ms at the latest). Seeded, so runs repeat. It
stands in for `tc qdisc ... netem loss ... reorder` on kernels without
sch_netem; it prints its counts on SIGTERM.

    python3 lossy_relay.py LISTEN_IP:PORT ENGINE_IP:PORT LOSS_PERCENT SEED [REORDER_PERCENT]
"""
import random
import select
import signal
import socket
import sys
import time


def addr(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main():
    listen, engine = addr(sys.argv[1]), addr(sys.argv[2])
    loss, rng = float(sys.argv[3]) / 100.0, random.Random(int(sys.argv[4]))
    reorder = float(sys.argv[5]) / 100.0 if len(sys.argv) > 5 else 0.0
    held = {}  # direction -> (data, dest, socket, since): sent after the next one
    front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    front.bind(listen)
    back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    back.bind((listen[0], 0))
    counts = {"to_engine": 0, "to_engine_dropped": 0, "to_publisher": 0,
              "to_publisher_dropped": 0, "reordered": 0}
    publisher = None
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("relay ready", flush=True)
    while not stop:
        try:
            ready, _, _ = select.select([front, back], [], [], 0.2)
        except InterruptedError:
            continue
        for s in ready:
            data, src = s.recvfrom(65536)
            if s is front:
                publisher = src
                key, dest, out = "to_engine", engine, back
            elif publisher is not None:
                key, dest, out = "to_publisher", publisher, front
            else:
                continue
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
