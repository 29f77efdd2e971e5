"""Against a real engine: the built-in tasks, apply_async's options, result
states and the result store."""
import datetime
import os
import time

import pytest

import taskwire
from conftest import QUEUE

pytestmark = pytest.mark.engine


def test_builtin_tasks(client, add):
    assert add.delay(2, 3).get(timeout=5) == 5
    assert client.task("echo").delay("hi", [1, 2]).get(timeout=5) == ["hi", [1, 2]]
    assert client.task("noop").delay().get(timeout=5) is None
    assert client.task("sleep_us").delay(1000).get(timeout=5) is None
    with pytest.raises(taskwire.TaskFailed, match="FAILURE: fail: ") as e:
        client.task("fail").delay().get(timeout=5)
    assert e.value.state == "FAILURE"
    assert "fail" in client.task("fail").delay().get(timeout=5, propagate=False)


def test_decorator_names_the_engine_task(client):
    @client.task
    def add(a, b):
        return a + b
    assert add(1, 2) == 3                       # a local call stays local
    assert add.delay(20, 22).get(timeout=5) == 42
    assert add.apply_async(args=(1, 1)).get(timeout=5) == 2


def test_state_ready_info_and_progress(client, add):
    r = add.delay(1, 2)
    assert r.get(timeout=5) == 3
    assert r.ready() and r.successful() and r.state == "SUCCESS" and r.info == 3
    p = client.task("progress").delay(3)
    assert p.get(timeout=5) == 3
    assert p.state == "SUCCESS"


def test_countdown_eta_expires_priority_headers(client, add):
    t0 = time.monotonic()
    assert add.apply_async(args=(2, 5), countdown=0.3).get(timeout=5) == 7
    assert time.monotonic() - t0 >= 0.29
    eta = datetime.datetime.now() + datetime.timedelta(seconds=0.2)
    assert add.apply_async(args=(1, 2), eta=eta).get(timeout=5) == 3
    with pytest.raises(taskwire.TaskExpired, match="EXPIRED"):
        add.apply_async(args=(1, 1), countdown=0.4, expires=0.1).get(timeout=5)
    client.control.queue_declare("pyprio", max_priority=5)
    r = add.apply_async(args=(3, 4), priority=3, queue="pyprio", headers={"tenant": "a"})
    assert r.get(timeout=5) == 7


def test_retry_options_reach_the_engine(client):
    flaky = client.task("flaky")
    assert flaky.apply_async(args=(2,), max_retries=3, retry_countdown=0.01).get(timeout=5) == 2
    with pytest.raises(taskwire.TaskFailed, match="retries exhausted"):
        flaky.apply_async(args=(5,), max_retries=1).get(timeout=5)


def test_result_of_another_publisher_comes_from_the_store(client, add):
    r = add.delay(40, 2)
    assert r.get(timeout=5) == 42
    other = taskwire.Client(default_queue=QUEUE)     # no local record of r
    try:
        seen = other.AsyncResult(r.id)
        assert seen.get(timeout=5) == 42 and seen.state == "SUCCESS"
        seen.forget()
        assert other.AsyncResult(r.id).state == "PENDING"   # gone from the store
    finally:
        other.close()


def test_forget_needs_the_control_socket(add):
    c = taskwire.Client(control_socket=None, default_queue=QUEUE)
    c.control = None
    try:
        r = c.task("add").delay(1, 1)
        assert r.get(timeout=5) == 2
        with pytest.raises(taskwire.ControlError, match="control socket"):
            r.forget()
    finally:
        c.close()


def test_batch_and_wait_confirms(client, add):
    with client.batch():
        rs = [add.delay(i, i) for i in range(200)]
    assert client.wait_confirms(timeout=10)
    assert [r.get(timeout=10) for r in rs] == [2 * i for i in range(200)]
    assert client.stats()["frames_sent"] < client.stats()["tasks_sent"]


def test_socket_opened_in_a_named_namespace(add):
    # the tests already run in the engine's namespace; entering it by name
    # is what a process on the host does (examples/django)
    netns = os.environ.get("TW_NETNS")
    if not netns:
        pytest.skip("TW_NETNS not set")
    with taskwire.Client(netns=netns, default_queue=QUEUE) as c:
        assert c.task("add").delay(1, 2).get(timeout=5) == 3
