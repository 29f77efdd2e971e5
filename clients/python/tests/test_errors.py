"""Against a real engine: each way publishing can fail is its own exception
with a message that says what happened."""
import pytest

import taskwire
from conftest import QUEUE

pytestmark = pytest.mark.engine


def test_unroutable_is_task_rejected(client):
    r = client.publish("add", (1, 2), queue="py-no-such-queue")
    with pytest.raises(taskwire.TaskRejected, match="unroutable") as e:
        r.get(timeout=5)
    assert e.value.reason == "unroutable" and r.state == "REJECTED"


def test_unknown_exchange_is_task_rejected(client):
    with pytest.raises(taskwire.TaskRejected, match="unknown-exchange"):
        client.publish("add", (1, 2), exchange="py-nope", routing_key="x").get(timeout=5)


def test_queue_full_is_task_rejected(client):
    client.control.queue_declare("pyfull", max_length=1)
    with client.batch():    # one frame: the worker cannot drain between them
        rs = [client.publish("sleep_us", (20000,), queue="pyfull") for _ in range(8)]
    with pytest.raises(taskwire.TaskRejected, match="queue-full"):
        client.wait_confirms(timeout=5)
    reasons = []
    for r in rs:            # get() raises the NACK too, whoever saw it first
        try:
            r.get(timeout=10)
        except taskwire.TaskRejected as e:
            reasons.append(e.reason)
    assert reasons and set(reasons) == {"queue-full"}


def test_unreachable_engine(client):
    host = client.engine.rsplit(":", 1)[0]
    # the engine's address, a port nobody serves: the engine drops it (wrong port)
    with taskwire.Client(engine=host + ":5599", control_socket=None, retransmit_ms=20,
                         max_attempts=4, default_queue=QUEUE) as c:
        c.control = None
        r = c.task("add").delay(1, 2)
        with pytest.raises(taskwire.EngineUnreachable, match="did not confirm"):
            r.get(timeout=10)


def test_get_timeout_is_result_timeout(client):
    r = client.task("sleep_us").delay(300000)
    with pytest.raises(taskwire.ResultTimeout) as e:
        r.get(timeout=0.05)
    assert isinstance(e.value, TimeoutError) and "no final result after" in str(e.value)
    assert r.get(timeout=5) is None


def test_invalid_options_fail_before_sending(client, add):
    with pytest.raises(TypeError, match="unknown task option"):
        add.apply_async(args=(1, 2), countdwn=1)
    with pytest.raises(ValueError, match="countdown"):
        add.apply_async(args=(1, 2), countdown=-1)
    # larger than one datagram goes in fragments; over what any frame may take: refused here
    with pytest.raises(taskwire.FrameTooLarge):
        client.task("echo").delay("x" * ((8 << 20) + 1))
