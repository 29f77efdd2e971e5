"""Unit tests (no engine): the bytes the client sends decode, with the
classes generated from proto/taskwire.proto, to the expected trees."""
import pytest

import taskwire
from taskwire import canvas as cv
from taskwire import options as opts
from taskwire._proto import FRAME_MAGIC, wire
from taskwire.channel import Channel


class Ids:
    """A stand-in client for the encoder: ids 1, 2, 3, ... in order."""

    default_queue = "q"
    serializer = "json"

    def __init__(self):
        self.n = 0

    def new_id(self):
        self.n += 1
        return self.n


def sig(name, *args, **options):
    return cv.Signature(name, args, None, options)


def encode(node, now=1000):
    enc = cv.Encoder(Ids(), now_ms=now)
    top = enc.encode(node)
    handle = cv.mark_notify(top) if cv.is_workflow(top) else cv.Leaf(top.id)
    # what goes on the wire, read back with the generated classes
    f = wire.Frame(magic=FRAME_MAGIC, version=1, frame_id=9, tasks=[top], retransmits=True)
    back = wire.Frame.FromString(f.SerializeToString())
    return back.tasks[0], handle


def test_frame_starts_with_magic_version_frame_id():
    f = wire.Frame(magic=FRAME_MAGIC, version=1, frame_id=7, tasks=[wire.Task(id=1, name="x")],
                   retransmits=True)
    data = f.SerializeToString()
    # field 1 fixed32 ("TWF1"), field 2 varint 1, field 3 fixed64: what the engine checks first
    assert data[:5] == b"\x0dTWF1"
    assert data[5:7] == b"\x10\x01"
    assert data[7] == 0x19


def test_single_task_and_options():
    t, handle = encode(sig("add", 2, 3, queue="jobs", priority=3, countdown=1.5, expires=10,
                           headers={"k": "v"}, max_retries=2, retry_countdown=0.1))
    assert (t.id, t.name, t.routing_key, t.exchange, t.args) == (1, "add", "jobs", "", b"[2,3]")
    assert t.priority == 3 and t.eta_ms == 2500 and t.expires_ms == 11000
    assert [(h.key, h.value) for h in t.headers] == [("k", "v")]
    assert t.retry.max_retries == 2 and t.retry.countdown_ms == 100
    assert not t.notify and isinstance(handle, cv.Leaf) and handle.task_id == 1


def test_exchange_and_routing_key():
    t, _ = encode(sig("add", 1, 2, exchange="work", routing_key="red"))
    assert (t.exchange, t.routing_key) == ("work", "red")


def test_unknown_option_and_bad_retry():
    with pytest.raises(TypeError, match="unknown task option"):
        sig("add", qeue="x")
    with pytest.raises(ValueError, match="max_retries"):
        encode(sig("add", retry_backoff=True))


def test_chain_is_next_next_with_notify_on_last():
    t, handle = encode(cv.chain(sig("add", 1, 2), sig("add", 3), sig("echo")))
    assert (t.id, t.name, t.args, t.notify) == (1, "add", b"[1,2]", False)
    assert (t.next.id, t.next.name, t.next.args, t.next.notify) == (2, "add", b"[3]", False)
    last = t.next.next
    assert (last.id, last.name, last.args, last.notify) == (3, "echo", b"[]", True)
    assert not last.HasField("next")
    assert isinstance(handle, cv.Leaf) and handle.task_id == 3


def test_pipe_builds_chain_and_si_is_immutable():
    t, _ = encode(sig("add", 1, 2) | cv.Signature("noop", immutable=True))
    assert t.next.name == "noop" and t.next.immutable and t.next.notify


def test_group_members_inline():
    t, handle = encode(cv.group(sig("add", 1, 1), sig("add", 2, 2), sig("echo", 9)))
    assert t.name == "" and t.id == 1 and t.group_size == 3
    assert [(m.id, m.name, m.args, m.notify) for m in t.members] == [
        (2, "add", b"[1,1]", True), (3, "add", b"[2,2]", True), (4, "echo", b"[9]", True)]
    assert isinstance(handle, cv.Group) and handle.group_id == 1
    assert [m.task_id for m in handle.members] == [2, 3, 4]


def test_group_of_chains_notifies_each_chain_tail():
    t, handle = encode(cv.group(cv.chain(sig("add", 1, 1), sig("add", 1)), sig("noop")))
    assert t.group_size == 2
    assert not t.members[0].notify and t.members[0].next.notify
    assert t.members[1].notify
    assert [m.task_id for m in handle.members] == [t.members[0].next.id, t.members[1].id]


def test_chord_is_group_with_next():
    t, handle = encode(cv.chord([sig("add", 1, 1), sig("add", 2, 2)], sig("echo")))
    assert t.group_size == 2 and t.name == ""
    assert not any(m.notify for m in t.members)   # the callback's result is what comes back
    assert t.next.name == "echo" and t.next.notify
    assert isinstance(handle, cv.Leaf) and handle.task_id == t.next.id
    assert handle.parent.group_id == t.id
    assert [m.task_id for m in handle.parent.members] == [m.id for m in t.members]


def test_chain_ending_in_chord_and_group_pipe():
    t, handle = encode(cv.chain(sig("add", 1, 1), cv.group(sig("echo"), sig("echo")),
                                sig("noop")))
    assert t.name == "add" and t.next.group_size == 2 and t.next.next.name == "noop"
    assert handle.task_id == t.next.next.id
    t2, _ = encode(cv.group(sig("add", 1, 1)) | sig("echo"))
    assert t2.group_size == 1 and t2.next.name == "echo"


def test_link_and_link_error():
    s = sig("add", 1, 2)
    s.link(sig("echo"))
    s.link_error(sig("noop"))
    t, handle = encode(s)
    assert [x.name for x in t.link] == ["echo"] and [x.name for x in t.link_error] == ["noop"]
    assert t.notify and handle.task_id == t.id   # a workflow step: ask for its states


def test_split_group_sets_group_id_and_index():
    t, _ = encode(cv.group(*[sig("echo", "x" * 40) for _ in range(40)]))
    assert t.ByteSize() > 1400
    head, members = cv.split_group(t)
    assert head.group_size == 40 and len(head.members) == 0 and head.id == t.id
    assert [(m.group_id, m.group_index) for m in members] == [(t.id, i) for i in range(40)]
    back = [wire.Task.FromString(m.SerializeToString()) for m in members]
    assert back[5].group_index == 5 and back[5].notify
    # the lineage the engine gives inline members: the group is their root
    assert all((m.root_id, m.parent_id) == (t.id, 0) for m in members)


def test_split_group_members_keep_the_running_tasks_tree():
    """Published by a running task (root R, parent P): split members carry
    R and P as inline ones would, so a follower of R sees them."""
    t, _ = encode(cv.group(*[sig("echo", "x" * 40) for _ in range(40)]))
    t.root_id, t.parent_id = 0x77, 0x55
    _, members = cv.split_group(t)
    assert {(m.root_id, m.parent_id) for m in members} == {(0x77, 0x55)}


def test_json_serializer():
    s = taskwire.serializers.get("json")
    assert s.dumps((2, 3), None) == b"[2,3]"
    assert s.dumps((), {"a": 1}) == b'{"a":1}'
    assert s.loads(b"") is None and s.loads(b"5") == 5
    with pytest.raises(TypeError):
        s.dumps((1,), {"a": 1})
    with pytest.raises(ValueError, match="unknown serializer"):
        taskwire.serializers.get("pickle")


def test_task_ids_parse():
    assert opts.parse_task_id("00000000000000ff") == 255
    with pytest.raises(ValueError):
        opts.parse_task_id(0)


def test_frame_size_accounting_matches_protobuf():
    t = wire.Task(id=1, name="add", routing_key="q", args=b"[1,2]")
    for n in (1, 7, 32):
        f = wire.Frame(magic=FRAME_MAGIC, version=1, frame_id=2 ** 63, tasks=[t] * n,
                       retransmits=True)
        assert f.ByteSize() <= 18 + n * Channel.task_cost(None, t)
