"""`make perf-durable`'s RabbitMQ client: durable publishing with publisher
confirms, a window of W unconfirmed messages (as tw-publish-bench keeps
W tasks outstanding), on pika's asynchronous connection; one JSON line.

  rabbit_confirm.py HOST PORT N SIZE WINDOW

The queue is durable, each message persistent (delivery_mode 2); a
confirm (multiple or not) ends the latency of every message it covers.
Bounded: the run stops after 300 s whatever is left."""
import json
import sys
import time

import pika

host, port, n, size, window = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4]), int(sys.argv[5])
queue = "bench.durable.confirm"
props = pika.BasicProperties(delivery_mode=2, content_type="application/octet-stream")
body = b"x" * size
st = {"ch": None, "published": 0, "confirmed": 0, "nacked": 0, "t0": 0.0, "t1": 0.0}
sent_at = {}   # delivery tag -> publish time, in tag order
lat = []


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] if v else 0


def pump():
    ch = st["ch"]
    while st["published"] < n and st["published"] - st["confirmed"] < window:
        st["published"] += 1
        sent_at[st["published"]] = time.monotonic()
        ch.basic_publish("", queue, body, props)


def on_confirm(frame):
    m = frame.method
    now = time.monotonic()
    if m.multiple:
        tags = [t for t in sent_at if t <= m.delivery_tag]
    else:
        tags = [m.delivery_tag] if m.delivery_tag in sent_at else []
    for t in tags:
        lat.append((now - sent_at.pop(t)) * 1e6)
    st["confirmed"] += len(tags)
    if isinstance(m, pika.spec.Basic.Nack):
        st["nacked"] += len(tags)
    if st["confirmed"] >= n:
        st["t1"] = now
        conn.close()
    else:
        pump()


def start(_frame):
    st["t0"] = time.monotonic()
    pump()


def on_channel(ch):
    st["ch"] = ch
    ch.queue_declare(queue, durable=True, callback=lambda _f: ch.queue_purge(
        queue, callback=lambda _g: ch.confirm_delivery(on_confirm, callback=start)))


def on_open(c):
    c.channel(on_open_callback=on_channel)


def on_open_error(_c, err):
    st["error"] = "connect: %s" % err
    conn.ioloop.stop()


# Closing a SelectConnection does not end its ioloop: the close callback
# must, or the process waits for ever after the last confirm.
conn = pika.SelectConnection(pika.ConnectionParameters(host, port, heartbeat=60),
                             on_open_callback=on_open,
                             on_open_error_callback=on_open_error,
                             on_close_callback=lambda _c, _r: conn.ioloop.stop())
conn.ioloop.call_later(300, lambda: conn.is_open and conn.close())
conn.ioloop.start()
if "error" in st:
    sys.exit("rabbit_confirm: " + st["error"])
if st["confirmed"] < n:
    sys.exit("rabbit_confirm: %d of %d confirmed" % (st["confirmed"], n))
dt = st["t1"] - st["t0"]
print(json.dumps({"messages": n, "size": size, "window": window, "nacked": st["nacked"],
                  "seconds": round(dt, 3), "msgs_per_sec": round(n / dt),
                  "confirm_p50_us": round(pct(lat, 0.5)), "confirm_p99_us": round(pct(lat, 0.99))}))
