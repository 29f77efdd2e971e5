"""`make perf-amqp`'s client: the same pika workload against any AMQP 0-9-1
broker (tw-amqp or RabbitMQ), one JSON line per scenario.

  pika_bench.py HOST PORT N SIZE transient|durable [consume]

publish-confirm: N messages of SIZE bytes, each published and its confirm
awaited (BlockingChannel.confirm_delivery: one in flight), rate and confirm
latency p50/p99; publish-pipelined: N published on a channel without
confirms, then the queue's count polled until all are in (rate of
arrival); consume: the N consumed with manual acks, prefetch 100. With
"consume" last, the publish-confirm row is left out (the pipelined
publish still fills the queue)."""
import json
import sys
import time

import pika

host, port, n, size, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), \
    sys.argv[5]
durable = mode == "durable"
only_consume = len(sys.argv) > 6 and sys.argv[6] == "consume"
props = pika.BasicProperties(delivery_mode=2 if durable else 1, content_type="application/octet-stream")
body = b"x" * size


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] if v else 0


conn = pika.BlockingConnection(pika.ConnectionParameters(host, port, heartbeat=60,
                                                         socket_timeout=30))
q = "bench.%s" % mode
ch = conn.channel()
ch.queue_declare(q, durable=durable)
ch.queue_purge(q)
ch.confirm_delivery()

if not only_consume:
    lat = []
    t0 = time.monotonic()
    for _ in range(n):
        a = time.monotonic()
        ch.basic_publish("", q, body, props)
        lat.append((time.monotonic() - a) * 1e6)
    dt = time.monotonic() - t0
    print(json.dumps({"scenario": "publish-confirm", "mode": mode, "size": size, "messages": n,
                      "msgs_per_sec": round(n / dt), "confirm_p50_us": round(pct(lat, 0.5)),
                      "confirm_p99_us": round(pct(lat, 0.99))}))
    ch.queue_purge(q)

bulk = conn.channel()
t0 = time.monotonic()
for _ in range(n):
    bulk.basic_publish("", q, body, props)
deadline = time.monotonic() + 120
count = 0
while time.monotonic() < deadline:
    count = ch.queue_declare(q, passive=True).method.message_count
    if count >= n:
        break
    time.sleep(0.01)
dt = time.monotonic() - t0
print(json.dumps({"scenario": "publish-pipelined", "mode": mode, "size": size, "messages": count,
                  "msgs_per_sec": round(count / dt)}))

ch.basic_qos(prefetch_count=100)
got = 0
t0 = time.monotonic()


def on_msg(c, m, p, b):
    global got
    got += 1
    c.basic_ack(m.delivery_tag)
    if got == count:
        c.stop_consuming()


ch.basic_consume(q, on_msg)
while got < count and time.monotonic() - t0 < 120:
    conn.process_data_events(time_limit=1)
dt = time.monotonic() - t0
print(json.dumps({"scenario": "consume", "mode": mode, "size": size, "messages": got,
                  "msgs_per_sec": round(got / dt)}))
ch.queue_delete(q)
conn.close()
