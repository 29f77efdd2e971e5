"""kombu's SimpleQueue (Debian's python3-kombu, py-amqp transport) against
tw-amqp: put/get with acks, get_nowait (basic.get), qsize, a rejected
message requeued, clear (purge)."""
import os
import sys

from kombu import Connection


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


def main():
    url = "amqp://guest:guest@127.0.0.1:%s//" % os.environ.get("AMQP_PORT", "5672")
    with Connection(url, connect_timeout=10) as conn:
        q = conn.SimpleQueue("kombu.simple")
        for i in range(10):
            q.put({"n": i, "text": "héllo"}, headers={"h": i})
        check(q.qsize() == 10, "qsize() = 10 (%d)" % q.qsize())
        m = q.get_nowait()  # basic.get
        check(m.payload == {"n": 0, "text": "héllo"} and m.headers.get("h") == 0,
              "get_nowait(): payload and headers")
        m.ack()
        got = []
        for _ in range(4):
            m = q.get(block=True, timeout=10)  # basic.consume from here on
            got.append(m.payload["n"])
            check(m.headers.get("h") == m.payload["n"], "headers of message %d" % m.payload["n"])
            m.ack()
        check(got == [1, 2, 3, 4], "get(block=True) in order: %r" % got)
        m = q.get(block=True, timeout=10)
        check(m.payload["n"] == 5 and not m.delivery_info["redelivered"], "message 5")
        m.requeue()
        rest = []
        while True:
            m = q.get(block=True, timeout=10)
            rest.append((m.payload["n"], m.delivery_info["redelivered"]))
            m.ack()
            if m.payload["n"] == 5:
                break
        check(rest == [(6, False), (7, False), (8, False), (9, False), (5, True)],
              "the requeued message comes back, redelivered: %r" % rest)
        q.consumer.cancel()  # else the new messages go to it at once
        q.put({"n": 10})
        q.put({"n": 11})
        n = q.clear()
        check(n == 2 and q.qsize() == 0, "clear() purged 2 (%d), qsize() 0" % n)
        q.close()
        q = conn.SimpleQueue("kombu.simple")
        try:
            q.get(block=True, timeout=1)
            check(False, "empty after clear")
        except q.Empty:
            check(True, "empty after clear")
        q.queue.delete()
        q.close()
    print("kombu SimpleQueue: all passed")


if __name__ == "__main__":
    main()
