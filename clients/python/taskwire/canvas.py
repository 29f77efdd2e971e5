"""Celery's canvas (signatures, chain, group, chord) encoded as the engine's
workflows (proto/taskwire.proto, Task fields 14-26).

  chain(a, b, c)   a Task a with next=b, whose next=c; the last step gets
                   notify=true, so its states come back to the publisher
                   (the others' go only to the result store); the chain's
                   result is the last step's.
  group(a, b, ...) a Task with no name, group_size=N, id = the group's id,
                   its members inline in `members` (index = position); if
                   that does not fit in one frame, the group node is sent
                   first and each member on its own with group_id and
                   group_index.
  chord(hdr, body) the group node of hdr with next=body (body gets the list
                   of the members' results).
  link/link_error  Task.link / Task.link_error.

The publisher chooses every id (random, non-zero, 64 bits). Encoding only
builds messages; Client.apply_canvas() sends them (client.py).
"""
from . import options as opts
from . import serializers
from ._proto import wire


class Signature:
    """One task call, not sent yet: name, args and apply_async options.
    immutable (Celery's .si()): a parent's result is not prepended."""

    def __init__(self, name, args=(), kwargs=None, options=None, immutable=False, client=None):
        self.name = name
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.options = dict(options or {})
        opts.check(self.options)
        self.immutable = immutable
        self.client = client

    def clone(self, args=None, kwargs=None, **options):
        """A copy with args prepended (as Celery merges partial args) and
        options added."""
        s = Signature(self.name, tuple(args or ()) + self.args, {**self.kwargs, **(kwargs or {})},
                      {**self.options, **options}, self.immutable, self.client)
        for k in ("link", "link_error"):
            if k in self.options:
                s.options[k] = list(self.options[k])
        return s

    def set(self, **options):
        opts.check(options)
        self.options.update(options)
        return self

    def link(self, sig):
        """Run sig with this task's result after it succeeds. @return sig."""
        self.options.setdefault("link", []).append(sig)
        return sig

    def link_error(self, sig):
        """Run sig with {"id": ..., "error": ...} if this task fails. @return sig."""
        self.options.setdefault("link_error", []).append(sig)
        return sig

    def delay(self, *args, **kwargs):
        return self.apply_async(args, kwargs)

    def apply_async(self, args=None, kwargs=None, **options):
        sig = self.clone(args, kwargs, **options) if (args or kwargs or options) else self
        return _client_of(sig).apply_canvas(sig)

    def __or__(self, other):
        return chain(self, other)

    def __repr__(self):
        return "%s%s(%s)" % (self.name, ".si" if self.immutable else ".s",
                             ", ".join(map(repr, self.args)))


class chain:  # noqa: N801 - Celery's spelling
    def __init__(self, *steps):
        if len(steps) == 1 and isinstance(steps[0], (list, tuple)):
            steps = tuple(steps[0])
        if not steps:
            raise ValueError("a chain needs at least one step")
        self.steps = steps
        self.client = _first_client(steps)

    def apply_async(self, **options):
        return _client_of(self).apply_canvas(self, **options)

    def delay(self):
        return self.apply_async()

    def __or__(self, other):
        return chain(*self.steps, other)


class group:  # noqa: N801
    def __init__(self, *members, result_cell=0):
        if len(members) == 1 and not isinstance(members[0], (Signature, chain, group, chord)):
            members = tuple(members[0])     # group(generator) / group([..])
        if not members:
            raise ValueError("a group needs at least one member")
        self.members = members
        self.result_cell = result_cell
        self.client = _first_client(members)

    def apply_async(self, **options):
        return _client_of(self).apply_canvas(self, **options)

    def delay(self):
        return self.apply_async()

    def __or__(self, other):
        return chord(self, other)


class chord:  # noqa: N801
    def __init__(self, header, body=None):
        self.header = header if isinstance(header, group) else group(header)
        self.body = body
        self.client = _first_client((self.header, body) if body is not None else (self.header,))

    def __call__(self, body):
        """chord(header)(body), as in Celery: publish now."""
        return chord(self.header, body).apply_async()

    def apply_async(self, **options):
        if self.body is None:
            raise ValueError("a chord needs a body (chord(header, body) or chord(header)(body))")
        return _client_of(self).apply_canvas(self, **options)

    def delay(self):
        return self.apply_async()


def _first_client(nodes):
    for n in nodes:
        if n is not None and getattr(n, "client", None) is not None:
            return n.client
    return None


def _client_of(node):
    if node.client is None:
        raise ValueError("this signature has no client: make it with a client's task "
                         "(client.task('add').s(2, 3)) or call client.apply_canvas()")
    return node.client


# -- encoding -----------------------------------------------------------------

class Leaf:
    """The result handle of one step answered to the publisher. parent: the
    handle of the group a chord's callback waits for (Celery's
    result.parent), whose members' states are read from the result store."""

    def __init__(self, task_id, parent=None):
        self.task_id = task_id
        self.parent = parent


class Group:
    """The result handle of a group: its id and its members' handles."""

    def __init__(self, group_id, members):
        self.group_id = group_id
        self.members = members


class Encoder:
    """Turns a canvas into wire.Task trees. ctx gives new_id(), default_queue
    and serializer (the client)."""

    def __init__(self, ctx, now_ms=None):
        self.ctx = ctx
        self.now = now_ms if now_ms is not None else opts.now_ms()

    def encode(self, node):
        """The Task tree of node (notify not set yet)."""
        if isinstance(node, Signature):
            return self._signature(node)
        if isinstance(node, chain):
            head = self.encode(node.steps[0])
            for step in node.steps[1:]:
                tail_of(head).next.CopyFrom(self.encode(step))
            return head
        if isinstance(node, group):
            t = wire.Task(id=self.ctx.new_id(), group_size=len(node.members))
            if node.result_cell:
                t.result_cell = node.result_cell
            for m in node.members:
                t.members.append(self.encode(m))
            return t
        if isinstance(node, chord):
            if node.body is None:
                raise ValueError("a chord needs a body")
            t = self.encode(node.header)
            t.next.CopyFrom(self.encode(node.body))
            return t
        raise TypeError("not a signature, chain, group or chord: %r" % (node,))

    def _signature(self, sig):
        o = sig.options
        t = wire.Task(name=sig.name)
        t.id = opts.parse_task_id(o["task_id"]) if o.get("task_id") else self.ctx.new_id()
        opts.apply(t, o, self.now, self.ctx.default_queue)
        t.args = serializers.get(o.get("serializer") or self.ctx.serializer).dumps(
            sig.args, sig.kwargs)
        if sig.immutable:
            t.immutable = True
        for s in _as_list(o.get("link")):
            t.link.append(self.encode(s))
        for s in _as_list(o.get("link_error")):
            t.link_error.append(self.encode(s))
        return t


def _as_list(x):
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def tail_of(task):
    """The last step of a chain (follows next); for a chord, its body's last."""
    while task.HasField("next"):
        task = task.next
    return task


def is_workflow(task):
    return bool(task.HasField("next") or task.link or task.link_error or task.members
                or task.group_size)


def mark_notify(task, notify=True):
    """Set notify on the steps whose states the publisher waits for (the
    last step; for a group at the end, each member's last step) and return
    the result handle (Leaf or Group). notify=False: the handle only."""
    last, chord_header = task, None
    while last.HasField("next"):
        if last.group_size:
            chord_header = last
        last = last.next
    if last.group_size:
        return Group(last.id, [mark_notify(m, notify) for m in last.members])
    if notify:
        last.notify = True
    parent = None
    if chord_header is not None:
        parent = Group(chord_header.id, [mark_notify(m, False) for m in chord_header.members])
    return Leaf(last.id, parent)


def leaf_ids(handle):
    """The ids answered to the publisher (a chord's header is not)."""
    if isinstance(handle, Leaf):
        return [handle.task_id]
    return [i for m in handle.members for i in leaf_ids(m)]


def split_group(node):
    """A group node (or chord) too large for one frame: the node without
    its members, then each member as its own Task with group_id and
    group_index (the proto's second form). Each member carries the
    lineage the engine gives inline members (the group's root, or the group
    itself, and the group's parent), so a follower of the root sees them."""
    members = list(node.members)
    head = wire.Task()
    head.CopyFrom(node)
    del head.members[:]
    out = []
    for i, m in enumerate(members):
        m.group_id = node.id
        m.group_index = i
        if not m.root_id:
            m.root_id = node.root_id or node.id
            m.parent_id = node.parent_id
        out.append(m)
    return head, out
