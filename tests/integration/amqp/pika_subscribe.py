"""tw-amqp's basic.consume and basic.get never wait in its loop for the
engine's answer to their subscribe (run by amqp_loss_test.sh, tw-amqp
behind a relay that drops every subscribe on its way to the engine while
the file HOLD exists):

1. Answers lost: one connection's basic.consume and another's basic.get
   wait; meanwhile a third connection's 50 publishes with confirms go
   through; past the subscribe timeout (2 s) both waiting connections are
   closed with 541 naming the silence.
2. Answers late (the file removed after 0.8 s; tw-amqp resends the
   subscribe every 500 ms): the consume waits, publishes flow meanwhile,
   then consume-ok comes and every message queued is delivered; a
   basic.get gets its message with the right count, then get-empty.
"""
import os
import sys
import threading
import time

import pika
from pika.exceptions import ConnectionClosedByBroker

PORT = int(os.environ.get("AMQP_PORT", "5672"))
HOLD = os.environ["HOLD"]
Q = "sub.q"
TIMEOUT_S = 2.0  # tw-amqp's subscribe timeout


def params():
    return pika.ConnectionParameters(
        "127.0.0.1", PORT, "/", pika.PlainCredentials("guest", "guest"),
        heartbeat=30, socket_timeout=10)


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        try:
            os.unlink(HOLD)
        except FileNotFoundError:
            pass
        sys.exit(1)
    print("ok:", what)


def in_thread(fn):
    out = {}

    def run():
        t0 = time.monotonic()
        try:
            out["value"] = fn()
        except Exception as e:  # the outcome is checked by the caller
            out["error"] = e
        out["took"] = time.monotonic() - t0

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def publish(pch, n, tag):
    t0 = time.monotonic()
    for i in range(n):
        pch.basic_publish("", Q, b"%s%d" % (tag, i))
    return time.monotonic() - t0


def lost(pch):
    open(HOLD, "w").close()
    a = pika.BlockingConnection(params())
    c = pika.BlockingConnection(params())
    ta, oa = in_thread(lambda: a.channel().basic_consume(Q, lambda *x: None))
    tc, oc = in_thread(lambda: c.channel().basic_get(Q))
    time.sleep(0.1)
    took = publish(pch, 50, b"m")
    check(ta.is_alive() and tc.is_alive(),
          "the consume and the get still wait after the publishes (%.3f s)" % took)
    check(took < 1.5, "50 publishes confirmed meanwhile in %.3f s" % took)
    ta.join(TIMEOUT_S + 8)
    tc.join(TIMEOUT_S + 8)
    for name, out in (("consume", oa), ("get", oc)):
        e = out.get("error")
        check(isinstance(e, ConnectionClosedByBroker) and e.reply_code == 541 and
              "no answer from the engine" in e.reply_text,
              "%s without the engine's answer: connection closed 541 (%r)" % (name, e))
        check(TIMEOUT_S - 0.3 <= out["took"] <= TIMEOUT_S + 4,
              "after about the timeout (%.2f s)" % out["took"])
    os.unlink(HOLD)


def late(pch):
    open(HOLD, "w").close()
    d = pika.BlockingConnection(params())
    dch = d.channel()
    dch.basic_qos(prefetch_count=10)
    got = []

    def on_message(ch, m, p, body):
        got.append(body)
        ch.basic_ack(m.delivery_tag)

    t0 = time.monotonic()
    td, od = in_thread(lambda: dch.basic_consume(Q, on_message))
    time.sleep(0.1)
    took = publish(pch, 20, b"n")
    check(td.is_alive(), "the consume waits while the answers are dropped")
    check(took < 1.5, "20 publishes confirmed meanwhile in %.3f s" % took)
    time.sleep(max(0.0, 0.8 - (time.monotonic() - t0)))
    os.unlink(HOLD)
    td.join(TIMEOUT_S + 5)
    check("value" in od, "consume-ok once a resent subscribe is answered (%r)" % od.get("error"))
    check(0.6 <= od["took"] < TIMEOUT_S,
          "it had waited for the resent subscribe (%.2f s)" % od["took"])
    want = [b"m%d" % i for i in range(50)] + [b"n%d" % i for i in range(20)]
    deadline = time.monotonic() + 10
    while len(got) < len(want) and time.monotonic() < deadline:
        d.process_data_events(time_limit=0.1)
    check(got == want, "every queued message delivered in order (%d of %d)" %
          (len(got), len(want)))
    dch.close()
    publish(pch, 2, b"g")
    gch = d.channel()
    m, props, body = gch.basic_get(Q)
    check(m is not None and body == b"g0" and m.message_count == 1,
          "basic.get: the first message, one left (%r %r)" % (body, m and m.message_count))
    gch.basic_ack(m.delivery_tag)
    m, props, body = gch.basic_get(Q, auto_ack=True)
    check(m is not None and body == b"g1", "basic.get no-ack: the second (%r)" % body)
    m, props, body = gch.basic_get(Q)
    check(m is None, "basic.get: empty")
    d.close()


def main():
    pub = pika.BlockingConnection(params())
    pch = pub.channel()
    pch.confirm_delivery()
    pch.queue_declare(Q)
    pch.queue_purge(Q)
    lost(pch)
    late(pch)
    pch.queue_delete(Q)
    pub.close()
    print("pika_subscribe: all passed")


if __name__ == "__main__":
    main()
