"""A lossy UDP relay for the at-least-once test: publishers send to
LISTEN, the relay forwards to the engine from its own socket and sends the
engine's replies back to the publisher, dropping a fixed share of the
datagrams each way (seeded, so runs repeat). It stands in for
`tc qdisc ... netem loss` on kernels without sch_netem; it prints its
counts on SIGTERM.

    python3 lossy_relay.py LISTEN_IP:PORT ENGINE_IP:PORT LOSS_PERCENT SEED
"""
import random
import select
import signal
import socket
import sys


def addr(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main():
    listen, engine = addr(sys.argv[1]), addr(sys.argv[2])
    loss, rng = float(sys.argv[3]) / 100.0, random.Random(int(sys.argv[4]))
    front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    front.bind(listen)
    back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    back.bind((listen[0], 0))
    counts = {"to_engine": 0, "to_engine_dropped": 0, "to_publisher": 0,
              "to_publisher_dropped": 0}
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
            out.sendto(data, dest)
    print(" ".join("%s=%d" % kv for kv in sorted(counts.items())), flush=True)


if __name__ == "__main__":
    main()
