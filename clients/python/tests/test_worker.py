"""Python task code through the real engine: `python3 -m taskwire worker`
processes consume a queue as remote consumers and run the App's tasks
(tests/workerapp/wtasks.py); the publishing client reads the results the
engine forwards. Also the App alone (eager mode) and the worker's bad
starts, which need no engine."""
import logging
import os
import subprocess
import sys
import time

import pytest

import taskwire
from taskwire.app import App

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "workerapp"))
APPDIR = os.path.join(HERE, "workerapp")
PKG = os.path.join(HERE, "..")
QUEUE = "pywork"


def worker_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([PKG, APPDIR, env.get("PYTHONPATH", "")])
    env["TW_TEST_QUEUE"] = QUEUE
    return env


def start_worker(*extra, queue=QUEUE):
    """A worker process; returns once it says it is ready (10 s at most)."""
    p = subprocess.Popen([sys.executable, "-B", "-m", "taskwire", "worker", "-A", "wtasks",
                          "-Q", queue, *extra], cwd=APPDIR, env=worker_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 10
    lines = []
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "taskwire worker: ready" in line:
            return p
    stop(p)
    raise AssertionError("worker did not start: %s" % "".join(lines))


def stop(p, sig="term"):
    if p.poll() is None:
        (p.terminate if sig == "term" else p.kill)()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)
    return p.returncode


@pytest.fixture(scope="module")
def app():
    a = App("wtasks-publisher")
    a.conf.task_default_queue = QUEUE
    a.client.control.queue_declare(QUEUE)
    yield a
    a.close()


@pytest.fixture(scope="module")
def worker(app):
    p = start_worker("-P", "threads", "-c", "2")
    yield p
    assert stop(p) == 0, "warm shutdown did not exit 0"


# -- the App alone ----------------------------------------------------------------

def test_eager_mode_runs_the_body_here():
    a = App("eager")
    a.conf.task_always_eager = True

    @a.task(bind=True, max_retries=3)
    def twice(self, x):
        if self.request.retries < 2:
            raise self.retry(countdown=1)
        return (x * 2, self.request.retries, self.request.is_eager)

    @a.task
    def boom():
        raise KeyError("k")

    assert twice.delay(21).get() == (42, 2, True)
    assert twice.name.endswith(".twice")        # Celery's MODULE.FUNCTION
    r = boom.delay()
    assert r.state == "FAILURE" and isinstance(r.result, KeyError)
    with pytest.raises(KeyError):
        r.get()
    with pytest.raises(taskwire.Retry):
        twice(5)                                # calling runs the body here, once

    @a.task(name="calc.double")
    def double(x):
        return 2 * x
    assert double(4) == 8 and a.tasks["calc.double"] is double


def test_config_from_object_with_namespace():
    class Settings:
        TASKWIRE_TASK_ALWAYS_EAGER = True
        TASKWIRE_TASK_DEFAULT_QUEUE = "emails"
        OTHER_SETTING = 1
    a = App("cfg")
    a.config_from_object(Settings, namespace="TASKWIRE")
    assert a.conf.task_always_eager is True and a.conf.task_default_queue == "emails"
    assert "other_setting" not in a.conf


def test_shared_task_binds_to_every_app():
    @taskwire.shared_task(name="shared.mul")
    def mul(x, y):
        return x * y
    a = App("later")
    assert "shared.mul" in a.tasks
    a.conf.task_always_eager = True
    assert a.tasks["shared.mul"].delay(6, 7).get() == 42


def test_bad_starts_exit_1_with_the_reason(tmp_path):
    env = worker_env()
    r = subprocess.run([sys.executable, "-B", "-m", "taskwire", "worker", "-A", "no_such_module"],
                       cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "no_such_module" in r.stderr, r.stderr
    (tmp_path / "broken.py").write_text("import taskwire\napp = taskwire.App('b')\n1/0\n")
    r = subprocess.run([sys.executable, "-B", "-m", "taskwire", "worker", "-A", "broken"],
                       cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "ZeroDivisionError" in r.stderr, r.stderr
    r = subprocess.run([sys.executable, "-B", "-m", "taskwire", "worker", "-A", "wtasks",
                        "-c", "0"], cwd=APPDIR, env=env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2, r.stderr


# -- through the engine ----------------------------------------------------------------

@pytest.mark.engine
def test_subscribe_to_a_missing_queue_is_refused(app):
    r = subprocess.run([sys.executable, "-B", "-m", "taskwire", "worker", "-A", "wtasks",
                        "-Q", "no-such-queue-here"], cwd=APPDIR, env=worker_env(),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "no-such-queue-here" in r.stderr, r.stderr


@pytest.mark.engine
def test_large_args_and_results_in_fragments(app, worker):
    """1 MiB of args to a Python task and 1 MiB back, a 100 kB result from a
    small task: frames over one datagram go in fragments both ways, and the
    result store keeps them whole."""
    from wtasks import echo, report
    big = "".join(chr(97 + (i * 7 + i // 1400) % 26) for i in range(1 << 20))
    t0 = time.monotonic()
    r = echo.delay(big)
    assert r.get(timeout=60) == big
    print("python: 1 MiB there and back in %.0f ms" % ((time.monotonic() - t0) * 1000))
    r = report.delay(100000)
    text = r.get(timeout=30)
    assert len(text) == 100000 and text.startswith("row 000000: ")
    # the store's copy (over the control socket), not the engine's reply
    deadline = time.monotonic() + 10
    stored = app.client.control.result(r.task_id)
    while len(stored.value) <= 100000 and time.monotonic() < deadline:
        time.sleep(0.1)     # tw-control drains its records a few times a second
        stored = app.client.control.result(r.task_id)
    assert len(stored.value) > 100000 and b"row 000000: " in stored.value
    channel = echo.app.client.channel   # wtasks' own App published them
    assert channel.stats.get("frames_fragmented", 0) >= 1
    assert channel.reassembler.completed >= 2


@pytest.mark.engine
def test_tasks_run_in_the_worker(app, worker):
    from wtasks import add
    results = [add.delay(i, i) for i in range(50)]
    assert [r.get(timeout=20) for r in results] == [2 * i for i in range(50)]


@pytest.mark.engine
def test_workflows_mix_python_and_engine_tasks(app, worker):
    """A chain and a chord whose steps run in the Python worker (py.add on
    its queue) and on the engine's own lcores (the built-in C add and tsum
    on a queue no remote consumer takes)."""
    from wtasks import add
    engine_q = "pywork-engine"
    app.client.control.queue_declare(engine_q)
    c_add = app.client.signature("add", (100,), queue=engine_q)
    r = app.client.apply_canvas(taskwire.chain(add.s(1, 2), c_add, add.s(1000)))
    assert r.get(timeout=20) == 1103
    tsum = app.client.signature("tsum", queue=engine_q)
    r = app.client.apply_canvas(taskwire.chord([add.s(i, i) for i in range(5)], tsum))
    assert r.get(timeout=20) == 20


@pytest.mark.engine
def test_rate_limit_spaces_starts(app, worker):
    """rate_limit="10/s": 30 tasks queued at once take about two seconds
    past the first second's burst, whatever the pool's concurrency."""
    from wtasks import limited
    start = time.monotonic()
    rs = [limited.delay() for _ in range(30)]
    [r.get(timeout=30) for r in rs]
    took = time.monotonic() - start
    assert took >= 1.8, "30 tasks at 10/s took %.2f s" % took


def test_a_refused_resend_of_an_answered_ack_is_counted_not_warned(caplog):
    """An ack resent while the engine's first answer was on its way (a
    busy machine) is refused as stale: counted, no warning; a refusal of
    an ack never answered is warned about."""
    from taskwire._proto import FRAME_MAGIC, wire
    from taskwire.worker import Consumer

    def reply(tag, ok):
        f = wire.Frame(magic=FRAME_MAGIC)
        r = f.ack_replies.add()
        r.delivery_tag, r.ok = tag, ok
        r.detail = "" if ok else "stale delivery tag"
        return f
    c = Consumer("127.0.0.1:9", ["q"])      # never started: frames are handed in here
    try:
        with caplog.at_level(logging.WARNING, logger="taskwire.worker"):
            c.ack(0x10, "SUCCESS")
            c._handle(reply(0x10, True))
            c._handle(reply(0x10, False))   # the resend's answer
            assert c.stats.get("acks_resent_refused") == 1 and c.stats["acks_refused"] == 0
            assert not caplog.records, caplog.text
            c.ack(0x20, "SUCCESS")
            c._handle(reply(0x20, False))
            assert c.stats["acks_refused"] == 1 and "ack of delivery 20 refused" in caplog.text
            # the tag given again to a new delivery: its refusal is warned about
            f = wire.Frame(magic=FRAME_MAGIC)
            f.deliveries.add().delivery_tag = 0x10
            c._handle(f)
            c._handle(reply(0x10, False))
            assert c.stats["acks_refused"] == 2, c.stats
    finally:
        c.close()


def test_rate_strings():
    from taskwire.worker import parse_rate
    assert parse_rate("10/s") == 10 and parse_rate("120/m") == 2 and parse_rate(None) is None
    assert parse_rate(5) == 5.0 and parse_rate("3600/h") == 1
    with pytest.raises(ValueError):
        parse_rate("10/d")


@pytest.mark.engine
def test_retry_and_request(app, worker):
    from wtasks import flaky
    r = flaky.delay(2)
    v = r.get(timeout=20)
    assert v == {"retries": 2, "id": r.id}


@pytest.mark.engine
def test_autoretry_then_failure_with_the_remote_traceback(app, worker):
    from wtasks import autoretry, fail
    with pytest.raises(taskwire.TaskFailed) as e:
        fail.delay().get(timeout=20)
    assert "ValueError: boom" in e.value.error and "Traceback" in e.value.error
    with pytest.raises(taskwire.TaskFailed) as e:
        autoretry.delay().get(timeout=30)
    assert "mail server down (try 2)" in e.value.error, e.value.error


@pytest.mark.engine
def test_progress_then_success(app, worker):
    from wtasks import progress
    assert progress.delay(3).get(timeout=20) == 3


@pytest.mark.engine
def test_bad_results_and_unknown_tasks_end_in_failure(app, worker):
    from wtasks import unserializable
    with pytest.raises(taskwire.TaskFailed) as e:
        unserializable.delay().get(timeout=20)
    assert "does not serialize" in e.value.error
    with pytest.raises(taskwire.TaskFailed) as e:
        app.send_task("py.no_such_task", (1,)).get(timeout=20)
    assert "unknown task py.no_such_task" in (e.value.error or ""), e.value


def assert_unprintable_fails(queue=QUEUE):
    """A task raising an exception that str(), repr() and pickle all fail
    on: FAILURE naming its class (never an unacked delivery run again and
    again, nor a dead worker), and the worker serves the next task."""
    from wtasks import add, unprintable
    with pytest.raises(taskwire.TaskFailed) as e:
        unprintable.apply_async(queue=queue).get(timeout=20)
    assert e.value.error.startswith("Unprintable: <Unprintable: str() failed>"), e.value.error
    assert add.apply_async((1, 2), queue=queue).get(timeout=20) == 3


@pytest.mark.engine
def test_an_unprintable_exception_is_a_failure(app, worker):
    assert_unprintable_fails()


@pytest.mark.engine
def test_an_unknown_task_is_rejected_logged_and_dead_lettered(app):
    """A task no module of the worker registers: the worker logs it and
    rejects it, and the engine moves it to its queue's dead-letter
    exchange (here bound to a queue no consumer takes, where it waits)."""
    from taskwire._proto import control
    ctl = app.client.control
    ctl.call(control.Request(exchange_declare=control.ExchangeDeclare(name="pywork.dlx",
                                                                      type="fanout")))
    ctl.queue_declare("pywork-dlq", consumers="remote")
    ctl.call(control.Request(bind=control.Bind(source="pywork.dlx", destination="pywork-dlq")))
    q = "pywork-reject"
    ctl.queue_declare(q, dead_letter_exchange="pywork.dlx")
    p = start_worker("-P", "threads", "-c", "1", queue=q)

    def dead_lettered():
        queues = ctl.call(control.Request(list=control.ListRequest(
            what=control.ListRequest.QUEUES))).queues
        return next(x.ready for x in queues if x.name == "pywork-dlq")
    try:
        app.send_task("py.no_such_task", (1,), queue=q)
        deadline = time.monotonic() + 20
        while dead_lettered() < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert dead_lettered() == 1, "the rejected task did not reach the dead-letter queue"
    finally:
        assert stop(p) == 0
        out = p.stdout.read()
        for name in (q, "pywork-dlq"):
            ctl.queue_delete(name)
        ctl.call(control.Request(exchange_delete=control.ExchangeDelete(name="pywork.dlx")))
    assert "Received unregistered task of type 'py.no_such_task'" in out, out


@pytest.mark.engine
def test_soft_time_limit_in_the_solo_pool(app):
    q = "pywork-solo"
    app.client.control.queue_declare(q)
    p = start_worker("-P", "solo", queue=q)
    try:
        from wtasks import soft
        assert soft.apply_async(queue=q).get(timeout=20) == "stopped by the soft limit"
        assert_unprintable_fails(q)
    finally:
        assert stop(p) == 0


@pytest.mark.engine
def test_worker_killed_mid_task_redelivers_to_another(app, tmp_path):
    """kill -9 of the worker running a task: when its lease runs out the
    engine delivers it again, until a live worker runs it (the dead one
    counts as alive until it misses three heartbeats, so a redelivery may
    go to it first); one result comes back, with the delivery count."""
    q = "pywork-kill"
    app.client.control.queue_declare(q)
    marker = str(tmp_path / "started")
    first = start_worker("-P", "threads", "-c", "1", "--lease-ms", "1500", queue=q)
    from wtasks import slow
    r = slow.apply_async((1.0, marker), queue=q)
    deadline = time.monotonic() + 20
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.path.exists(marker), "the first worker never started the task"
    stop(first, sig="kill")
    # no worker on the queue for longer than the engine takes to drop the
    # dead one (three heartbeats): the queue is held, so the task waits for
    # the next worker instead of going to the engine's lcores (which do not
    # know py.slow and would fail it)
    time.sleep(4)
    second = start_worker("-P", "threads", "-c", "1", queue=q)
    try:
        v = r.get(timeout=30)
        assert v["delivery_count"] >= 2 and v["pid"] == second.pid, v
        runs = [ln.split() for ln in open(marker).read().split("\n") if ln]
        assert runs[0] == [str(first.pid), "1"], runs
        assert runs[-1] == [str(second.pid), str(v["delivery_count"])], runs
        assert len(runs) == 2, "run more than once by live workers: %s" % runs
        time.sleep(0.5)
        assert r.get(timeout=1) == v            # one result, not replaced by another run
    finally:
        assert stop(second) == 0


@pytest.mark.engine
def test_prefork_time_limit_crash_and_child_recycling(app):
    """-P prefork: a task past its hard time limit costs its child (FAILURE
    TimeLimitExceeded) and the worker keeps serving; a child that dies
    mid-task has its task requeued and run again (delivery_count 2); with
    --max-tasks-per-child 2 children are replaced as they go."""
    q = "pywork-prefork"
    app.client.control.queue_declare(q)
    p = start_worker("-P", "prefork", "-c", "2", "--max-tasks-per-child", "2", queue=q)
    try:
        from wtasks import add, crash, hang, pid
        with pytest.raises(taskwire.TaskFailed) as e:
            hang.apply_async(queue=q).get(timeout=20)
        assert "TimeLimitExceeded" in e.value.error, e.value.error
        assert add.apply_async((1, 2), queue=q).get(timeout=20) == 3
        assert_unprintable_fails(q)
        v = crash.apply_async(("x",), queue=q).get(timeout=20)
        assert v["delivery_count"] == 2, v
        pids = {pid.apply_async(queue=q).get(timeout=20) for _ in range(8)}
        assert len(pids) >= 3, "children not recycled after 2 tasks each: %s" % pids
        assert p.pid not in pids, "a task ran in the parent"
    finally:
        assert stop(p) == 0


def test_a_resent_ack_whose_first_answer_was_lost():
    """The first answer lost, the resend refused as stale: the ack was taken
    (counted, not a refusal); a tag never given ("unknown") is a refusal
    however often it was sent, and its second refusal is not counted twice."""
    from taskwire._proto import FRAME_MAGIC, wire
    from taskwire.worker import Consumer

    def reply(tag, detail):
        f = wire.Frame(magic=FRAME_MAGIC)
        r = f.ack_replies.add()
        r.delivery_tag, r.ok, r.detail = tag, False, detail
        return f
    c = Consumer("127.0.0.1:9", ["q"])      # never started: frames are handed in here
    try:
        c.ack(0x30, "SUCCESS")
        c.unanswered[0x30] = (c.unanswered[0x30][0], 0.0)
        c._resend_acks()
        c._handle(reply(0x30, "stale delivery tag: already acked, or requeued after its lease"))
        assert c.stats.get("acks_resent_refused") == 1 and c.stats["acks_refused"] == 0
        c.ack(0x40, "SUCCESS")
        c.unanswered[0x40] = (c.unanswered[0x40][0], 0.0)
        c._resend_acks()
        c._handle(reply(0x40, "unknown delivery tag"))
        c._handle(reply(0x40, "unknown delivery tag"))
        assert c.stats["acks_refused"] == 1 and c.stats["acks_resent_refused"] == 2
    finally:
        c.close()
