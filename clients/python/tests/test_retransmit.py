"""Unit tests of at-least-once publishing against a scripted fake engine on
loopback (no real engine): retransmits, give-up, duplicate drops, a lost
confirm implied by its result, frame-level NACKs."""
import socket
import time
import threading

import pytest

import taskwire
from taskwire._proto import FRAME_MAGIC, wire


class FakeEngine:
    """Receives frames; `answer(frame, n)` (n: how many copies of this frame
    id came so far) returns the reply Frames to send back."""

    def __init__(self, answer):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.answer = answer
        self.received = []      # raw datagrams
        self.copies = {}
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                data, peer = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            f = wire.Frame.FromString(data)
            if not f.tasks:
                # the client's probes at open for a source cookie: this fake
                # engine gives none (its frames come padded, without one)
                assert len(data) == 64, data
                continue
            self.received.append(data)
            self.copies[f.frame_id] = self.copies.get(f.frame_id, 0) + 1
            for reply in self.answer(f, self.copies[f.frame_id]):
                self.sock.sendto(reply.SerializeToString(), peer)

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def reply(f, confirms=(), results=()):
    return wire.Frame(magic=FRAME_MAGIC, version=1, frame_id=f.frame_id, confirms=confirms,
                      results=results)


def ack(t):
    return wire.Confirm(task_id=t.id, ack=True)


def success(t, value=b"5", resent=False):
    return wire.Result(task_id=t.id, state=wire.SUCCESS, value=value, resent=resent)


@pytest.fixture
def fake():
    engines = []

    def make(answer):
        e = FakeEngine(answer)
        engines.append(e)
        return e
    yield make
    for e in engines:
        e.close()


def test_lost_frames_are_sent_again_and_echoes_dropped(fake):
    def answer(f, n):
        if n < 3:
            return []       # the first two sends are "lost"
        t = f.tasks[0]
        # the engine's answers to a retransmit come twice here: echoes must be dropped
        return [reply(f, [ack(t)], [success(t)]), reply(f, [ack(t)], [success(t, resent=True)])]
    e = fake(answer)
    with taskwire.Client(engine=e.address, retransmit_ms=20) as c:
        r = c.task("add").delay(2, 3)
        assert r.get(timeout=5) == 5
        for _ in range(100):    # the echo datagram may still be on its way
            s = c.stats()
            if s.get("duplicates_dropped", 0) >= 2:
                break
            time.sleep(0.01)
    # at least the two lost sends (a slow fake engine may see a third)
    assert s["retransmits"] >= 2 and s["duplicates_dropped"] >= 2, s
    assert len(set(e.received)) == 1            # the same bytes each time
    assert wire.Frame.FromString(e.received[0]).retransmits


def test_no_confirm_after_max_attempts_is_engine_unreachable(fake):
    e = fake(lambda f, n: [])
    with taskwire.Client(engine=e.address, retransmit_ms=10, max_attempts=3) as c:
        r = c.task("add").delay(2, 3)
        with pytest.raises(taskwire.EngineUnreachable, match="did not confirm .* after 3 sends"):
            r.get(timeout=10)
        assert len(e.received) == 3
        assert c.stats()["retransmit_gave_up"] == 1


def test_wait_confirms_raises_unreachable_once(fake):
    e = fake(lambda f, n: [])
    with taskwire.Client(engine=e.address, retransmit_ms=10, max_attempts=2) as c:
        c.task("noop").delay()
        with pytest.raises(taskwire.EngineUnreachable):
            c.wait_confirms(timeout=10)
        assert c.wait_confirms(timeout=1)        # raised once; nothing outstanding


def test_missing_result_after_confirm_is_asked_again(fake):
    def answer(f, n):
        t = f.tasks[0]
        return [reply(f, [ack(t)])] if n == 1 else [reply(f, [ack(t)], [success(t, b"7", True)])]
    e = fake(answer)
    with taskwire.Client(engine=e.address, retransmit_ms=20) as c:
        r = c.task("add").delay(3, 4)
        assert r.get(timeout=5) == 7            # after the 1 s result timeout
        assert c.stats()["retransmits"] == 1


def test_result_without_confirm_implies_it(fake):
    e = fake(lambda f, n: [reply(f, results=[success(f.tasks[0])])])
    with taskwire.Client(engine=e.address, retransmit_ms=50) as c:
        r = c.task("add").delay(2, 3)
        assert r.get(timeout=5) == 5
        assert c.wait_confirms(timeout=1)


def test_frame_level_nack_reaches_each_task(fake):
    def answer(f, n):
        return [reply(f, [wire.Confirm(task_id=0, ack=False, reason=wire.NACK_MALFORMED,
                                       detail="bad frame")])]
    e = fake(answer)
    with taskwire.Client(engine=e.address) as c:
        with c.batch():
            rs = [c.task("noop").delay() for _ in range(3)]
        for r in rs:
            with pytest.raises(taskwire.TaskRejected, match="malformed .bad frame."):
                r.get(timeout=5)
            assert r.state == "REJECTED" and r.ready()


def test_progress_meta_then_result(fake):
    def answer(f, n):
        t = f.tasks[0]
        prog = wire.Result(task_id=t.id, state=wire.PROGRESS, value=b'{"done":1,"total":2}')
        return [reply(f, [ack(t)], [prog])] if n == 1 else []
    e = fake(answer)
    with taskwire.Client(engine=e.address, retransmit_ms=-1) as c:
        r = c.task("progress").delay(2)
        with pytest.raises(taskwire.ResultTimeout):
            r.get(timeout=0.3)
        assert r.state == "PROGRESS" and r.info == {"done": 1, "total": 2} and not r.ready()
