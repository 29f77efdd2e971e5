"""A durable queue through tw-amqp across a crash of the engine, with pika
(amqp_durable_test.sh). AMQP_PORT names tw-amqp's port on 127.0.0.1.

  pika_durable.py before QUEUE N      declare QUEUE durable, publish N
                                      persistent messages with confirms
                                      ("m0".."m{N-1}", header "seq"), take
                                      and ack the first 5, then take 3
                                      more and leave them unacked; prints
                                      "before ok"
  pika_durable.py after QUEUE N       after the restart: the N - 5 not
                                      acked come back in order, the 3 taken
                                      before with redelivered set, the rest
                                      without; bodies and headers intact;
                                      all acked; the queue is empty then;
                                      a transient redeclare is refused
  pika_durable.py memory QUEUE        against an engine without a journal:
                                      a durable declare is taken (the
                                      queue kept in memory), a message goes
                                      through
"""
import os
import sys

import pika

PORT = int(os.environ.get("AMQP_PORT", "5672"))


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def channel():
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", PORT, "/", pika.PlainCredentials("guest", "guest"),
        heartbeat=10, blocked_connection_timeout=30, socket_timeout=10))
    return conn, conn.channel()


def take(ch, queue):
    for _ in range(100):
        m, props, body = ch.basic_get(queue, auto_ack=False)
        if m is not None:
            return m, props, body
        ch.connection.sleep(0.05)
    check(False, "a message of %s within 5 s" % queue)


def before(queue, n):
    conn, ch = channel()
    ch.confirm_delivery()
    ch.queue_declare(queue, durable=True)
    for i in range(n):
        ch.basic_publish("", queue, b"m%d" % i, pika.BasicProperties(
            delivery_mode=2, headers={"seq": i}, content_type="text/plain"))
    for i in range(5):
        m, props, body = take(ch, queue)
        check(body == b"m%d" % i and not m.redelivered, "message %d first: %r" % (i, body))
        ch.basic_ack(m.delivery_tag)
    for i in range(5, 8):
        m, props, body = take(ch, queue)
        check(body == b"m%d" % i, "message %d taken, unacked: %r" % (i, body))
    # the acks reach the engine and their DONE records the journal (a
    # group commit is well under this)
    conn.sleep(0.5)
    print("before ok")
    sys.stdout.flush()
    # the connection stays open: the test kills the engine under it
    conn.sleep(30)


def after(queue, n):
    conn, ch = channel()
    ch.queue_declare(queue, durable=True)
    got, redelivered = [], 0
    for i in range(5, n):
        m, props, body = take(ch, queue)
        check(body == b"m%d" % i, "message %d after the restart: %r" % (i, body))
        check((props.headers or {}).get("seq") == i and props.content_type == "text/plain",
              "message %d's properties: %r" % (i, props))
        check(m.redelivered == (i < 8), "message %d redelivered=%s" % (i, m.redelivered))
        got.append(i)
        redelivered += m.redelivered
        ch.basic_ack(m.delivery_tag)
    m, _, _ = ch.basic_get(queue, auto_ack=True)
    check(m is None, "nothing more in %s" % queue)
    # the other durable flag: refused, as RabbitMQ refuses it
    try:
        ch.queue_declare(queue, durable=False)
        check(False, "a transient redeclare of a durable queue refused")
    except pika.exceptions.ChannelClosedByBroker as e:
        check(e.reply_code == 406, "transient redeclare: 406, got %s" % e)
    conn.close()
    print("%d messages back in order after the crash, %d of them redelivered, "
          "the 5 acked not" % (len(got), redelivered))


def memory(queue):
    conn, ch = channel()
    ch.confirm_delivery()
    ch.queue_declare(queue, durable=True)
    ch.basic_publish("", queue, b"in memory", pika.BasicProperties(delivery_mode=2))
    m, _, body = take(ch, queue)
    check(body == b"in memory", "a message through a durable declare without a journal")
    ch.basic_ack(m.delivery_tag)
    conn.close()
    print("memory ok")


if __name__ == "__main__":
    case = sys.argv[1]
    if case == "before":
        before(sys.argv[2], int(sys.argv[3]))
    elif case == "after":
        after(sys.argv[2], int(sys.argv[3]))
    elif case == "memory":
        memory(sys.argv[2])
    else:
        sys.exit("unknown case " + case)
