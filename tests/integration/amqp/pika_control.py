"""tw-amqp's requests to tw-control never hold up its loop (run by
amqp_control_test.sh inside the engine's namespace; CTL_PID is
tw-control's pid, CTL_TIMEOUT_MS tw-amqp's --control-timeout-ms, MARK a
directory for the restart handshake with the shell):

1. tw-control stopped (SIGSTOP) for 1.5 s: one connection's queue.declare
   waits, meanwhile another connection's publishes with confirms to an
   already-declared queue are confirmed and a third consumes them all;
   py-amqp's no-wait declare followed at once by a publish to that queue
   on the same channel (both parked) lands the message in the queue (the
   publish ran after the declare); after SIGCONT the declare-ok comes.
2. tw-control stopped past the timeout: the declare's connection is
   closed with 541 naming the silence, in about the timeout; others flow
   meanwhile; after SIGCONT a connection opened before declares again.
3. tw-control restarted (by the shell): a connection opened before the
   restart declares again (tw-amqp reconnects), messages still flow.
First, a passive declare right after publishes without confirms on its
channel counts them all (the channel waited for the engine's answers).
"""
import os
import signal
import sys
import threading
import time

import amqp
import pika
from pika.exceptions import ConnectionClosedByBroker

PORT = int(os.environ.get("AMQP_PORT", "5672"))
CTL_PID = int(os.environ["CTL_PID"])
TIMEOUT_S = int(os.environ["CTL_TIMEOUT_MS"]) / 1000.0
MARK = os.environ["MARK"]
FLOW_Q = "ctl.flow"


def params():
    return pika.ConnectionParameters(
        "127.0.0.1", PORT, "/", pika.PlainCredentials("guest", "guest"),
        heartbeat=30, blocked_connection_timeout=30, socket_timeout=10)


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        os.kill(CTL_PID, signal.SIGCONT)
        sys.exit(1)
    print("ok:", what)


class Flow:
    """Publishes with confirms on one connection, consumes on another."""

    def __init__(self):
        self.pub = pika.BlockingConnection(params())
        self.pch = self.pub.channel()
        self.pch.confirm_delivery()
        self.pch.queue_declare(FLOW_Q)
        self.con = pika.BlockingConnection(params())
        cch = self.con.channel()
        cch.basic_qos(prefetch_count=100)
        self.got = []
        cch.basic_consume(FLOW_Q, self.on_message, auto_ack=True)
        self.n = 0

    def on_message(self, ch, method, props, body):
        self.got.append(body)

    def run(self, n, budget_s):
        """n messages published (each confirmed) and all consumed. @return seconds."""
        t0 = time.monotonic()
        want = [b"m%d" % (self.n + i) for i in range(n)]
        for body in want:
            self.pch.basic_publish("", FLOW_Q, body)
        self.n += n
        deadline = t0 + budget_s
        while len(self.got) < len(want) and time.monotonic() < deadline:
            self.con.process_data_events(time_limit=0.05)
        check(self.got[:n] == want, "%d messages confirmed and consumed (%d)" % (n, len(self.got)))
        del self.got[:n]
        return time.monotonic() - t0


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


def queue_len(ch, q):
    return ch.queue_declare(q, passive=True).method.message_count


def stall_shorter(flow, a):
    d = amqp.Connection(host="127.0.0.1:%d" % PORT, userid="guest", password="guest")
    d.connect()
    dch = d.channel()
    os.kill(CTL_PID, signal.SIGSTOP)
    t0 = time.monotonic()
    t, out = in_thread(lambda: a.channel().queue_declare("ctl.new"))
    # no-wait declare, then at once a publish to it: parked behind the declare
    dch.queue_declare("ctl.order", auto_delete=False, nowait=True)
    dch.basic_publish(amqp.Message(b"after the declare"), exchange="", routing_key="ctl.order")
    time.sleep(0.1)
    took = flow.run(50, 1.2)
    check(t.is_alive(), "the declare waits while tw-control is stopped")
    print("   50 publishes confirmed and consumed in %.3f s meanwhile" % took)
    time.sleep(max(0.0, 1.5 - (time.monotonic() - t0)))
    check(t.is_alive(), "still waiting after 1.5 s")
    os.kill(CTL_PID, signal.SIGCONT)
    t.join(10)
    check("value" in out and out["value"].method.queue == "ctl.new",
          "declare-ok once tw-control runs again (%s)" % out.get("error"))
    check(out["took"] >= 1.3, "it had waited (%.2f s)" % out["took"])
    n = 0
    deadline = time.monotonic() + 5
    while n != 1 and time.monotonic() < deadline:
        n = queue_len(flow.pch, "ctl.order")
        time.sleep(0.05)
    check(n == 1, "the publish parked behind the no-wait declare reached its queue (%d)" % n)
    d.close()


def stall_longer(flow):
    b = pika.BlockingConnection(params())
    os.kill(CTL_PID, signal.SIGSTOP)
    t, out = in_thread(lambda: b.channel().queue_declare("ctl.late"))
    time.sleep(0.1)
    flow.run(50, TIMEOUT_S - 0.3)
    t.join(TIMEOUT_S + 5)
    os.kill(CTL_PID, signal.SIGCONT)
    e = out.get("error")
    check(isinstance(e, ConnectionClosedByBroker) and e.reply_code == 541 and
          "did not answer" in e.reply_text,
          "declare past the timeout: connection closed 541 (%r)" % (e,))
    check(TIMEOUT_S - 0.2 <= out["took"] <= TIMEOUT_S + 2.5,
          "after about the timeout (%.2f s)" % out["took"])


def restarted(flow, a):
    open(os.path.join(MARK, "restart"), "w").close()
    done = os.path.join(MARK, "restarted")
    deadline = time.monotonic() + 90
    while not os.path.exists(done) and time.monotonic() < deadline:
        # the connections stay served meanwhile (heartbeats, no request)
        flow.con.process_data_events(time_limit=0.1)
        a.process_data_events(time_limit=0.1)
    check(os.path.exists(done), "the shell restarted tw-control")
    ok = a.channel().queue_declare("ctl.after")
    check(ok.method.queue == "ctl.after", "declare on a connection opened before the restart")
    check(queue_len(flow.pch, FLOW_Q) == 0, "the flow queue is still there, empty")
    flow.run(20, 5)


def publish_then_count(conn):
    """Without confirms, then a passive declare on the same channel: it
    waits (its channel only) for the engine's answers to the publishes,
    so it counts every one."""
    ch = conn.channel()
    ch.queue_declare("ctl.count")
    for i in range(300):
        ch.basic_publish("", "ctl.count", b"c%d" % i)
    n = queue_len(ch, "ctl.count")
    check(n == 300, "a declare right after 300 publishes without confirms counts them (%d)" % n)
    ch.queue_delete("ctl.count")


def main():
    flow = Flow()
    flow.run(10, 5)
    publish_then_count(flow.pub)
    a = pika.BlockingConnection(params())
    try:
        stall_shorter(flow, a)
        stall_longer(flow)
        ch = a.channel()
        ch.queue_declare("ctl.again")
        print("ok: declare after the stall, on a connection opened before it")
        restarted(flow, a)
    finally:
        try:
            os.kill(CTL_PID, signal.SIGCONT)  # never left stopped
        except ProcessLookupError:
            pass  # the one restarted
    ch = a.channel()
    for q in ("ctl.new", "ctl.order", "ctl.late", "ctl.again", "ctl.after", FLOW_Q):
        ch.queue_delete(q)
    for c in (a, flow.pub, flow.con):
        c.close()
    print("pika_control: all passed")


if __name__ == "__main__":
    main()
