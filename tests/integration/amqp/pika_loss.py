"""pika publishing without confirms through tw-amqp whose datagrams to the
engine pass a lossy relay (amqp_loss_test.sh), then consuming: every
message must arrive exactly once. Run inside the engine's namespace.

    pika_loss.py publish N | pika_loss.py consume N
"""
import os
import sys
import time

import pika

PORT = int(os.environ.get("AMQP_PORT", "5672"))
QUEUE = "lossq"


def connect():
    return pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", PORT, "/", pika.PlainCredentials("guest", "guest"),
        heartbeat=10, socket_timeout=10))


def publish(n):
    conn = connect()
    ch = conn.channel()            # no confirm_delivery(): fire and forget
    ch.queue_declare(QUEUE)
    for i in range(n):
        ch.basic_publish("", QUEUE, b"m-%d" % i)
    conn.process_data_events(0.5)
    conn.close()
    print("published %d without confirms" % n)


def consume(n):
    conn = connect()
    ch = conn.channel()
    seen, dups = set(), 0
    deadline = time.monotonic() + 60
    while len(seen) < n and time.monotonic() < deadline:
        method, _props, body = ch.basic_get(QUEUE, auto_ack=True)
        if method is None:
            conn.process_data_events(0.05)
            continue
        if body in seen:
            dups += 1
        seen.add(body)
    left = ch.queue_declare(QUEUE, passive=True).method.message_count
    conn.close()
    missing = n - len(seen)
    print("consumed %d distinct, %d missing, %d duplicates, %d left" % (len(seen), missing, dups, left))
    if missing or dups or left:
        print("FAIL: every message exactly once")
        sys.exit(1)


if __name__ == "__main__":
    {"publish": publish, "consume": consume}[sys.argv[1]](int(sys.argv[2]))
