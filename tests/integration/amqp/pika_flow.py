"""pika (unmodified, Debian's python3-pika) against tw-amqp: the counts a
broker reports and the limits it keeps, each step asserting its outcome.

- basic.get-ok message_count (what is left ready) and queue.declare-ok
  message_count / consumer_count, from the engine's queue figures;
- basic.qos changed while consuming (raised, lowered: the engine's credit
  follows), global=true as RabbitMQ (one limit for the channel's
  consumers together), both at once, prefetch_size refused (540);
- x-expires: a queue unused that long is deleted; a consumer, a
  basic.get or a declare keeps it; bad values and an inequivalent
  redeclare refused (406);
- per-message expiration and x-message-ttl (dead-lettered when the queue
  says so); a malformed expiration refused (406).

Run by amqp_pika_test.sh inside the engine's namespace; AMQP_PORT names
tw-amqp's port on 127.0.0.1."""
import os
import sys
import time

import pika
from pika.exceptions import ChannelClosedByBroker, ConnectionClosedByBroker, UnroutableError

PORT = int(os.environ.get("AMQP_PORT", "5672"))


def params():
    return pika.ConnectionParameters("127.0.0.1", PORT, "/",
                                     pika.PlainCredentials("guest", "guest"),
                                     heartbeat=10, socket_timeout=10)


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


def pump(conn, seconds):
    """Let pika deliver for a while (bounded)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        conn.process_data_events(time_limit=min(0.1, max(0.0, end - time.monotonic())))


def wait_for(conn, cond, seconds):
    end = time.monotonic() + seconds
    while not cond() and time.monotonic() < end:
        conn.process_data_events(time_limit=0.05)
    return cond()


def refused(fn, code, what):
    try:
        fn()
    except (ChannelClosedByBroker, ConnectionClosedByBroker) as e:
        check(e.reply_code == code, "%s: %d (%s)" % (what, e.reply_code, e.reply_text))
        return
    check(False, "%s refused" % what)


def exists(ch, queue):
    """Whether queue exists, asked without using it: a mandatory publish to
    it through the default exchange comes back when it is gone (publishing
    does not count as use, as in RabbitMQ). Confirms must be on."""
    try:
        ch.basic_publish("", queue, b"probe", mandatory=True)
        return True
    except UnroutableError:
        return False


def counts(conn):
    ch = conn.channel()
    ch.confirm_delivery()
    q = "flow.count"
    ch.queue_declare(q)
    for i in range(5):
        ch.basic_publish("", q, b"c%d" % i)
    ok = ch.queue_declare(q, passive=True)
    check(ok.method.message_count == 5 and ok.method.consumer_count == 0,
          "declare-ok: 5 messages, 0 consumers (%d, %d)"
          % (ok.method.message_count, ok.method.consumer_count))
    left = []
    for i in range(5):
        m, p, b = ch.basic_get(q, auto_ack=(i % 2 == 0))
        check(b == b"c%d" % i, "basic.get %d" % i)
        left.append(m.message_count)
        if i % 2 == 1:
            ch.basic_ack(m.delivery_tag)
    check(left == [4, 3, 2, 1, 0], "get-ok message_count counts down: %r" % left)
    m, p, b = ch.basic_get(q)
    check(m is None, "then get-empty")
    # consumers: ours and those of another connection
    other = pika.BlockingConnection(params())
    oc = other.channel()
    t1 = oc.basic_consume(q, lambda *a: None)
    t2 = oc.basic_consume(q, lambda *a: None)
    ok = ch.queue_declare(q, passive=True)
    check(ok.method.consumer_count == 2, "declare-ok: 2 consumers of another connection (%d)"
          % ok.method.consumer_count)
    refused(lambda: ch.queue_delete(q, if_unused=True), 406, "queue.delete if-unused with consumers")
    ch = conn.channel()
    ch.confirm_delivery()
    oc.basic_cancel(t1)
    oc.basic_cancel(t2)
    ok = ch.queue_declare(q, passive=True)
    check(ok.method.consumer_count == 0, "declare-ok: 0 consumers after their cancel (%d)"
          % ok.method.consumer_count)
    other.close()
    ch.basic_publish("", q, b"last")
    refused(lambda: ch.queue_delete(q, if_empty=True), 406, "queue.delete if-empty, not empty")
    ch = conn.channel()
    d = ch.queue_delete(q, if_unused=True)
    check(d.method.message_count == 1, "queue.delete if-unused: 1 message went with it")


def qos(conn):
    ch = conn.channel()
    ch.confirm_delivery()
    q = "flow.qos"
    ch.queue_declare(q)
    for i in range(30):
        ch.basic_publish("", q, b"q%d" % i)
    got = []
    ch.basic_qos(prefetch_count=2)
    ch.basic_consume(q, lambda c, m, p, b: got.append(m.delivery_tag))
    pump(conn, 0.6)
    check(len(got) == 2, "prefetch 2: 2 unacked delivered (%d)" % len(got))
    ch.basic_qos(prefetch_count=5)  # raised while consuming
    check(wait_for(conn, lambda: len(got) >= 5, 3), "raised to 5 while consuming: %d" % len(got))
    pump(conn, 0.5)
    check(len(got) == 5, "raised to 5: exactly 5 unacked (%d)" % len(got))
    ch.basic_qos(prefetch_count=1)  # lowered: what is out stays, nothing new until under it
    ch.basic_ack(got[0])
    ch.basic_ack(got[1])
    ch.basic_ack(got[2])
    ch.basic_ack(got[3])
    pump(conn, 0.6)
    check(len(got) == 5, "lowered to 1 with 1 unacked left: nothing more (%d)" % len(got))
    for i in range(3):
        ch.basic_ack(got[-1])
        check(wait_for(conn, lambda: len(got) == 6 + i, 3), "an ack brings one more (%d)"
              % len(got))
        pump(conn, 0.3)
        check(len(got) == 6 + i, "and only one (%d)" % len(got))
    ch.basic_ack(got[-1])
    ch.close()

    # global=true: one limit for all the channel's consumers together
    ch = conn.channel()
    ch.confirm_delivery()
    for name in ("flow.g1", "flow.g2"):
        ch.queue_declare(name)
        for i in range(10):
            ch.basic_publish("", name, b"g")
    g = []
    ch.basic_qos(prefetch_count=3, global_qos=True)
    ch.basic_consume("flow.g1", lambda c, m, p, b: g.append(m.delivery_tag))
    ch.basic_consume("flow.g2", lambda c, m, p, b: g.append(m.delivery_tag))
    pump(conn, 0.8)
    check(len(g) == 3, "global 3 over two consumers: 3 unacked in all (%d)" % len(g))
    ch.basic_qos(prefetch_count=6, global_qos=True)
    check(wait_for(conn, lambda: len(g) >= 6, 3), "global raised to 6 (%d)" % len(g))
    pump(conn, 0.5)
    check(len(g) == 6, "exactly 6 (%d)" % len(g))
    ch.basic_ack(g[-1], multiple=True)
    check(wait_for(conn, lambda: len(g) >= 12, 3), "acked all: 6 more (%d)" % len(g))
    pump(conn, 0.3)
    check(len(g) == 12, "exactly 6 more (%d)" % len(g))
    # both: each consumer at most 2, the channel at most 6 -> 4
    ch.basic_qos(prefetch_count=2)
    ch.basic_ack(g[-1], multiple=True)
    check(wait_for(conn, lambda: len(g) >= 16, 3), "per-consumer 2 under global 6 (%d)" % len(g))
    pump(conn, 0.5)
    check(len(g) == 16, "2 each: 4 in all (%d)" % len(g))
    ch.basic_ack(g[-1], multiple=True)
    pump(conn, 0.5)
    ch.close()
    ch = conn.channel()
    ch.queue_delete("flow.qos")
    ch.queue_delete("flow.g1")
    ch.queue_delete("flow.g2")

    # a limit in bytes: not implemented, as RabbitMQ (connection error 540)
    bad = pika.BlockingConnection(params())
    refused(lambda: bad.channel().basic_qos(prefetch_size=4096, prefetch_count=1), 540,
            "basic.qos prefetch_size 4096")


def expires(conn):
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare("flow.exp1", arguments={"x-expires": 1000})
    time.sleep(0.4)
    check(exists(ch, "flow.exp1"), "x-expires 1000: there after 0.4 s")
    time.sleep(1.1)
    check(not exists(ch, "flow.exp1"), "x-expires 1000: deleted after 1.5 s unused")
    refused(lambda: ch.queue_declare("flow.exp1", passive=True), 404, "expired queue: passive")
    ch = conn.channel()
    ch.confirm_delivery()

    # a consumer keeps it; its expiry starts when the consumer goes
    ch.queue_declare("flow.exp2", arguments={"x-expires": 500})
    tag = ch.basic_consume("flow.exp2", lambda c, m, p, b: c.basic_ack(m.delivery_tag))
    pump(conn, 1.2)
    check(exists(ch, "flow.exp2"), "x-expires 500 with a consumer: there after 1.2 s")
    ch.basic_cancel(tag)
    time.sleep(1.0)
    check(not exists(ch, "flow.exp2"), "consumer cancelled: deleted 1 s later")

    # basic.get (empty) and declare use it too
    ch.queue_declare("flow.exp3", arguments={"x-expires": 600})
    for i in range(4):
        time.sleep(0.3)
        if i % 2:
            ch.basic_get("flow.exp3")
        else:
            ch.queue_declare("flow.exp3", arguments={"x-expires": 600})
    check(exists(ch, "flow.exp3"), "basic.get and declare every 0.3 s: there after 1.2 s")
    time.sleep(1.0)
    check(not exists(ch, "flow.exp3"), "then unused: deleted")

    # bad values, and a redeclare that does not match
    for v in (0, -5, "soon"):
        refused(lambda: conn.channel().queue_declare("flow.exp4", arguments={"x-expires": v}),
                406, "x-expires %r" % (v,))
    ch = conn.channel()
    ch.queue_declare("flow.exp5", arguments={"x-expires": 60000})
    refused(lambda: ch.queue_declare("flow.exp5", arguments={"x-expires": 1000}), 406,
            "redeclare with another x-expires")
    ch = conn.channel()
    ch.queue_delete("flow.exp5")


def ttl(conn):
    ch = conn.channel()
    ch.confirm_delivery()
    q = "flow.ttl"
    ch.queue_declare(q)
    ch.basic_publish("", q, b"short", pika.BasicProperties(expiration="150"))
    ch.basic_publish("", q, b"stays")
    ch.basic_publish("", q, b"long", pika.BasicProperties(expiration="60000"))
    time.sleep(0.4)
    m, p, b = ch.basic_get(q, auto_ack=True)
    check(b == b"stays", "expiration 150: gone after 0.4 s, the next one delivered (%r)" % b)
    m, p, b = ch.basic_get(q, auto_ack=True)
    check(b == b"long" and p.expiration == "60000",
          "expiration 60000: delivered, its property unchanged")
    for v in ("soon", "-1", "1.5"):
        c2 = conn.channel()
        c2.confirm_delivery()
        refused(lambda: c2.basic_publish("", q, b"x", pika.BasicProperties(expiration=v)),
                406, "expiration %r" % v)
    ch = conn.channel()
    ch.confirm_delivery()
    # x-message-ttl, dead-lettered when the queue says so (when the message
    # leaves the queue: a basic.get, a consumer)
    ch.exchange_declare("flow.dlx", "direct")
    ch.queue_declare("flow.dlq")
    ch.queue_bind("flow.dlq", "flow.dlx", routing_key="dead")
    ch.queue_declare("flow.ttl2", arguments={"x-message-ttl": 150,
                                             "x-dead-letter-exchange": "flow.dlx",
                                             "x-dead-letter-routing-key": "dead"})
    ch.basic_publish("", "flow.ttl2", b"old")
    time.sleep(0.4)
    m, p, b = ch.basic_get("flow.ttl2", auto_ack=True)
    check(m is None, "x-message-ttl 150: nothing after 0.4 s")
    m = None
    for _ in range(20):
        m, p, b = ch.basic_get("flow.dlq", auto_ack=True)
        if m is not None:
            break
        time.sleep(0.05)
    check(b == b"old", "the expired message was dead-lettered (%r)" % (b,))
    for name in ("flow.ttl", "flow.ttl2", "flow.dlq"):
        ch.queue_delete(name)
    ch.exchange_delete("flow.dlx")


def main():
    conn = pika.BlockingConnection(params())
    counts(conn)
    qos(conn)
    expires(conn)
    ttl(conn)
    conn.close()
    print("pika flow scenario: all passed")


if __name__ == "__main__":
    main()
