"""Against a real engine: chain, group, chord and link run as the engine's
workflows; a failing step fails its chain and its chord."""
import pytest

import taskwire
from taskwire import chain, chord, group

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def workflows(client):
    return client


def test_chain_passes_results_along(workflows, add):
    assert chain(add.s(1, 2), add.s(3), add.s(4)).apply_async().get(timeout=10) == 10
    assert (add.s(1, 1) | add.si(5, 5)).apply_async().get(timeout=10) == 10


def test_group_results_in_member_order(workflows, add):
    g = group(add.s(i, i) for i in range(5)).apply_async()
    assert isinstance(g, taskwire.GroupResult) and len(g) == 5
    assert g.get(timeout=10) == [0, 2, 4, 6, 8]
    assert g.ready() and g.completed_count() == 5


def test_large_group_is_sent_in_parts(workflows):
    echo = workflows.task("echo")
    g = group(echo.s("x" * 60, i) for i in range(40)).apply_async()
    assert g.get(timeout=15) == [["x" * 60, i] for i in range(40)]


def test_chord_callback_gets_the_list(workflows, add):
    r = chord([add.s(1, 1), add.s(2, 2)], workflows.task("echo").s()).apply_async()
    assert r.get(timeout=10) == [[2, 4]]
    assert r.parent.get(timeout=5) == [2, 4]     # the header, from the result store


def test_link_runs_after_success(workflows, add):
    link_id = workflows.new_id()
    s = add.s(2, 2)
    s.link(add.s(10).set(task_id=link_id))
    assert s.apply_async().get(timeout=10) == 4
    # a link's states go to the result store only
    assert workflows.AsyncResult(link_id).get(timeout=10) == 14


def test_failing_step_fails_its_chain(workflows, add):
    r = chain(add.s(1, 1), workflows.task("fail").s(), add.s(5)).apply_async()
    with pytest.raises(taskwire.TaskFailed) as e:
        r.get(timeout=10)
    assert "not run: step" in str(e.value) and "this task always fails" in str(e.value)


def test_failing_member_fails_its_chord(workflows, add):
    r = chord([add.s(1, 1), workflows.task("fail").s()], workflows.task("tsum").s()).apply_async()
    with pytest.raises(taskwire.TaskFailed) as e:
        r.get(timeout=10)
    assert "this task always fails" in str(e.value)
