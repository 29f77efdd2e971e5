"""pika (unmodified, Debian's python3-pika) against tw-amqp: each step
asserts its outcome. Run by amqp_pika_test.sh inside the engine's
namespace; AMQP_PORT names tw-amqp's port on 127.0.0.1."""
import json
import os
import sys
import time

import pika
from pika.exceptions import (ChannelClosedByBroker, ConnectionClosedByBroker,
                             ProbableAuthenticationError, UnroutableError)

PORT = int(os.environ.get("AMQP_PORT", "5672"))
N = 1000


def params(user="guest", password="guest", **kw):
    return pika.ConnectionParameters(
        "127.0.0.1", PORT, "/", pika.PlainCredentials(user, password),
        heartbeat=10, blocked_connection_timeout=30, socket_timeout=10, **kw)


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


def refused_login():
    try:
        pika.BlockingConnection(params(password="wrong"))
    except (ProbableAuthenticationError, ConnectionClosedByBroker) as e:
        text = str(e)
        check("ACCESS_REFUSED" in text or "403" in text, "wrong password refused: %s" % text)
        return
    check(False, "wrong password refused")


def main():
    refused_login()
    conn = pika.BlockingConnection(params())
    ch = conn.channel()
    ch.confirm_delivery()

    # declarations, passive too
    ch.exchange_declare("it.x", "direct")
    ch.exchange_declare("it.x", "direct", passive=True)
    ok = ch.queue_declare("it.q")
    check(ok.method.queue == "it.q" and ok.method.message_count == 0, "queue.declare-ok")
    ch.queue_bind("it.q", "it.x", routing_key="k")
    ch.queue_declare("it.q", passive=True)
    try:
        ch.queue_declare("it.nosuch", passive=True)
        check(False, "passive declare of a missing queue")
    except ChannelClosedByBroker as e:
        check(e.reply_code == 404, "passive declare of a missing queue: 404 (%s)" % e.reply_text)
    ch = conn.channel()
    try:
        ch.exchange_declare("it.nosuchx", "direct", passive=True)
        check(False, "passive declare of a missing exchange")
    except ChannelClosedByBroker as e:
        check(e.reply_code == 404, "passive declare of a missing exchange: 404")
    ch = conn.channel()
    ch.confirm_delivery()
    srv = ch.queue_declare("", exclusive=True)
    check(srv.method.queue.startswith("amq.gen-"), "server-named queue %s" % srv.method.queue)

    # 1,000 messages with confirms; properties and headers must come back unchanged
    headers = {"task": "tasks.add", "id": "6f1c-42", "retries": 0, "eta": None,
               "root_id": "r-1", "parent_id": None, "argsrepr": "(2, 3)",
               "nested": {"a": [1, "two", True], "b": "2.5"}}
    t0 = time.monotonic()
    for i in range(N):
        props = pika.BasicProperties(content_type="application/json", content_encoding="utf-8",
                                     headers=dict(headers, n=i), delivery_mode=2, priority=0,
                                     correlation_id="c%d" % i, reply_to="replies",
                                     message_id="m%d" % i)
        ch.basic_publish("it.x", "k", b'{"n": %d}' % i, props)
    dt = time.monotonic() - t0
    print("published %d with confirms in %.2f s (%.0f/s, one at a time)" % (N, dt, N / dt))
    ok = ch.queue_declare("it.q", passive=True)
    check(ok.method.message_count == N, "queue holds %d (%d)" % (N, ok.method.message_count))

    ch.basic_qos(prefetch_count=50)
    got = []

    def on_msg(c, method, props, body):
        got.append((method, props, body))
        c.basic_ack(method.delivery_tag)
        if len(got) == N:
            c.stop_consuming()

    tag = ch.basic_consume("it.q", on_msg)
    deadline = time.monotonic() + 60
    while len(got) < N and time.monotonic() < deadline:
        conn.process_data_events(time_limit=1)
    check(len(got) == N, "consumed %d of %d" % (len(got), N))
    ch.basic_cancel(tag)
    seen = sorted(json.loads(b)["n"] for _, _, b in got)
    check(seen == list(range(N)), "every body once")
    m, p, b = got[0]
    n = json.loads(b)["n"]
    check(p.headers == dict(headers, n=n), "headers unchanged: %r" % p.headers)
    check(p.content_type == "application/json" and p.content_encoding == "utf-8"
          and p.delivery_mode == 2 and p.correlation_id == "c%d" % n and p.reply_to == "replies"
          and p.message_id == "m%d" % n, "properties unchanged")
    check(m.exchange == "it.x" and m.routing_key == "k" and not m.redelivered,
          "deliver: exchange, routing key, not redelivered")

    # reject with requeue: back with redelivered=true
    ch.basic_publish("it.x", "k", b"again", pika.BasicProperties(headers={"x": 1}))
    first = []

    def on_first(c, method, props, body):
        first.append((method, props, body))
        if len(first) == 1:
            c.basic_reject(method.delivery_tag, requeue=True)
        else:
            c.basic_ack(method.delivery_tag)

    tag = ch.basic_consume("it.q", on_first)
    deadline = time.monotonic() + 20
    while len(first) < 2 and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.5)
    check(len(first) == 2, "rejected message delivered again")
    check(not first[0][0].redelivered and first[1][0].redelivered and first[1][2] == b"again",
          "redelivered=true after reject(requeue)")
    check(first[1][1].headers == {"x": 1}, "headers kept through the requeue")
    ch.basic_cancel(tag)

    # nack without requeue: gone
    ch.basic_publish("it.x", "k", b"drop me")
    m, p, b = None, None, None
    for _ in range(50):
        m, p, b = ch.basic_get("it.q")
        if m is not None:
            break
        time.sleep(0.05)
    check(b == b"drop me", "basic.get")
    ch.basic_nack(m.delivery_tag, requeue=False)
    time.sleep(0.3)
    m, p, b = ch.basic_get("it.q")
    check(m is None, "nack(requeue=false): not delivered again; get-empty")
    # basic.get with no_ack
    ch.basic_publish("it.x", "k", b"g2")
    m, p, b = ch.basic_get("it.q", auto_ack=True)
    check(b == b"g2", "basic.get auto_ack")

    # purge
    for i in range(5):
        ch.basic_publish("it.x", "k", b"p%d" % i)
    ok = ch.queue_purge("it.q")
    check(ok.method.message_count == 5, "purge-ok counts 5 (%d)" % ok.method.message_count)

    # mandatory and unroutable: returned
    try:
        ch.basic_publish("it.x", "no-binding", b"lost", mandatory=True)
        check(False, "mandatory unroutable publish returned")
    except UnroutableError:
        check(True, "mandatory unroutable publish returned")
    # not mandatory: confirmed, dropped
    ch.basic_publish("it.x", "no-binding", b"dropped")
    check(True, "unroutable, not mandatory: confirmed")

    ch.queue_unbind("it.q", "it.x", routing_key="k")
    try:
        ch.basic_publish("it.x", "k", b"x", mandatory=True)
        check(False, "after unbind: returned")
    except UnroutableError:
        check(True, "after unbind: returned")

    # a missing exchange closes the channel with 404
    try:
        ch.basic_publish("it.missing", "k", b"x")
        ch.basic_publish("it.missing", "k", b"x")
        check(False, "publish to a missing exchange")
    except ChannelClosedByBroker as e:
        check(e.reply_code == 404, "publish to a missing exchange: 404 (%s)" % e.reply_text)

    ch = conn.channel()
    d = ch.queue_delete("it.q")
    check(d.method.message_count == 0, "queue.delete-ok")
    ch.exchange_delete("it.x")
    try:
        ch.queue_declare("it.q", passive=True)
        check(False, "deleted queue gone")
    except ChannelClosedByBroker as e:
        check(e.reply_code == 404, "deleted queue gone")

    # messages larger than one engine datagram (a few kB to 1 MiB): to the
    # engine and back to the consumer in fragments, byte for byte
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare("it.big")
    sizes = (200 * 1000, 1 << 20)
    sent = {}
    t0 = time.monotonic()
    for n in sizes:
        body = os.urandom(n)
        sent[n] = body
        ch.basic_publish("", "it.big", body, pika.BasicProperties(
            headers={"task": "tasks.big", "n": n}, content_type="application/octet-stream",
            message_id="big%d" % n))
    print("published %s bytes with confirms in %.2f s"
          % (" and ".join(map(str, sizes)), time.monotonic() - t0))
    big = []

    def on_big(c, method, props, body):
        big.append((method, props, body))
        c.basic_ack(method.delivery_tag)

    tag = ch.basic_consume("it.big", on_big)
    deadline = time.monotonic() + 30
    while len(big) < len(sizes) and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.5)
    ch.basic_cancel(tag)
    check(len(big) == len(sizes), "large messages consumed: %d of %d" % (len(big), len(sizes)))
    for m, p, b in big:
        n = p.headers.get("n")
        check(n in sent and b == sent[n] and p.message_id == "big%d" % n
              and p.content_type == "application/octet-stream",
              "%d-byte body and properties back byte for byte" % len(b))
    # over the limit: refused before the engine, with the limit named
    try:
        ch.basic_publish("", "it.big", b"x" * ((1 << 20) + 1))
        check(False, "a body over 1 MiB refused")
    except ChannelClosedByBroker as e:
        check(e.reply_code == 311 and "1048576" in e.reply_text,
              "a body over 1 MiB: CONTENT_TOO_LARGE (%s)" % e.reply_text)
    ch = conn.channel()
    check(ch.queue_delete("it.big").method.message_count == 0, "nothing left behind")

    # transactions: refused cleanly
    ch = conn.channel()
    try:
        ch.tx_select()
        check(False, "tx.select refused")
    except ConnectionClosedByBroker as e:
        check(e.reply_code == 540, "tx.select: NOT_IMPLEMENTED (%s)" % e.reply_text)

    # the exclusive queue went with the first connection
    conn2 = pika.BlockingConnection(params())
    ch = conn2.channel()
    try:
        ch.queue_declare(srv.method.queue, passive=True)
        check(False, "exclusive queue deleted with its connection")
    except ChannelClosedByBroker as e:
        check(e.reply_code == 404, "exclusive queue deleted with its connection")
    conn2.close()
    print("pika scenario: all passed")


if __name__ == "__main__":
    main()
