"""taskwire.Client: one engine connection (UDP channel + optional control
socket), the entry point for publishing tasks and workflows and reading
their results.

    client = taskwire.Client(engine="10.77.0.1:5555", control_socket="/.../control.sock")
    add = client.task("add", queue="jobs")
    add.delay(2, 3).get(timeout=5)          # 5

engine and control_socket default to $TW_ENGINE and $TW_SOCKET (what
deploy/lib.sh writes to engine.env and `make up` to build/dev.env).
"""
import os

from . import canvas as cv
from . import current
from . import keys
from . import options as opts
from . import serializers
from ._proto import wire
from .channel import Channel
from .control import ControlClient
from .errors import EngineUnreachable, TaskRejected
from .result import AsyncResult, GroupResult
from .tasks import Task


class Client:
    def __init__(self, engine=None, control_socket=None, default_queue="celery",
                 serializer="json", retransmit_ms=200, max_attempts=8, max_frame_bytes=1400,
                 max_tasks_per_frame=32, max_records=100000, netns=None, key_file=None,
                 key_id=None):
        """retransmit_ms: first retransmit of an unconfirmed frame (doubling
        up to 2 s; -1 never); max_attempts: sends of one frame before its
        tasks are EngineUnreachable; max_records: tasks whose confirms and
        results this client keeps (older ones are read from the store);
        netns: an `ip netns` name to open the UDP socket in, for a process
        outside the engine's namespace (default: $TW_CLIENT_NETNS);
        key_file, key_id: sign every frame for an engine started with
        --keys (default: $TW_KEY_FILE, $TW_KEY_ID; the file is checked as
        the engine checks it, keys.py)."""
        engine = engine or os.environ.get("TW_ENGINE")
        if not engine:
            raise ValueError("no engine address: Client(engine='IP:PORT') or $TW_ENGINE")
        control_socket = control_socket or os.environ.get("TW_SOCKET") or None
        self.engine = engine
        self.default_queue = default_queue
        self.serializer = serializer
        serializers.get(serializer)     # fail now on an unknown name
        self.control = ControlClient(control_socket) if control_socket else None
        key_file = key_file or os.environ.get("TW_KEY_FILE")
        key = None
        if key_file:
            key_id = int(key_id if key_id is not None else os.environ.get("TW_KEY_ID", "0"))
            key = (key_id, keys.load_key(key_file, key_id))
        self.channel = Channel(engine, retransmit_ms=retransmit_ms, max_attempts=max_attempts,
                               max_frame_bytes=max_frame_bytes,
                               max_tasks_per_frame=max_tasks_per_frame, max_records=max_records,
                               netns=netns or os.environ.get("TW_CLIENT_NETNS"), key=key)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Send what is pending and stop the receive thread."""
        self.channel.close()

    def new_id(self):
        return self.channel.new_id()

    # -- tasks ---------------------------------------------------------------

    def task(self, name_or_fn=None, **options):
        """A task proxy: client.task("add", queue="jobs"), or a decorator
        @client.task / @client.task(name="add", queue="jobs") on a Python
        function (the engine task of that name is what runs)."""
        if callable(name_or_fn):
            return Task(self, options.pop("name", name_or_fn.__name__), name_or_fn, options)
        if isinstance(name_or_fn, str):
            return Task(self, name_or_fn, None, options)

        def decorate(fn):
            return Task(self, options.pop("name", fn.__name__), fn, options)
        return decorate

    def signature(self, name, args=(), kwargs=None, **options):
        return cv.Signature(name, args, kwargs, options, client=self)

    def publish(self, name, args=(), kwargs=None, **options):
        """Publish one task. @return its AsyncResult (the confirm comes
        later: a NACK or an unreachable engine is raised by get(), or by
        wait_confirms())."""
        if options.get("link") or options.get("link_error"):
            return self.apply_canvas(cv.Signature(name, args, kwargs, options, client=self))
        ser = options.get("serializer") or self.serializer
        task = wire.Task(id=self.channel.new_id(), name=name,
                         args=serializers.get(ser).dumps(args, kwargs))
        if options:
            opts.check(options)
            if options.get("task_id"):
                task.id = opts.parse_task_id(options["task_id"])
            opts.apply(task, options, opts.now_ms(), self.default_queue)
        else:
            task.routing_key = self.default_queue or ""
        self.channel.submit(task, serializer=ser, wait_results=task.eta_ms == 0)
        return AsyncResult(task.id, self)

    send_task = publish     # Celery's name for publishing by name

    def apply_canvas(self, node, **options):
        """Publish a signature, chain, group or chord. @return AsyncResult
        (a chain's: its last step's; a chord's: its callback's, with the
        header's GroupResult as .parent) or GroupResult (a group's)."""
        if options:
            if not isinstance(node, cv.Signature):
                raise TypeError("options apply to a single signature; set them on the "
                                "steps of a %s" % type(node).__name__)
            node = node.clone(**options)
        top = cv.Encoder(self).encode(node)
        lineage = current.lineage()
        if lineage is not None and not top.root_id:
            top.root_id, top.parent_id = lineage
        workflow = cv.is_workflow(top)
        handle = cv.mark_notify(top) if workflow else cv.Leaf(top.id)
        ser = getattr(node, "options", {}).get("serializer") or self.serializer
        if top.group_size and len(top.members) and not self.channel.fits_alone(top):
            # the node first, then its members on their own: every member
            # may be as large as a frame allows
            self._submit_split_group(top, ser)
        else:
            # a tree larger than a datagram travels whole, in fragments (up
            # to the engine's largest frame: FrameTooLarge past it)
            self._submit_tree(top, handle, ser)
        return self._result_of(handle)

    def _submit_tree(self, top, handle, ser):
        notify = [i for i in cv.leaf_ids(handle) if i != top.id]
        self.channel.submit(top, notify_ids=notify, serializer=ser,
                            wait_results=not cv.is_workflow(top) and top.eta_ms == 0)

    def _submit_split_group(self, top, ser):
        """The group node first, confirmed, then its members on their own:
        the engine must know the group before a member reports to it."""
        head, members = cv.split_group(top)
        rec = self.channel.submit(head, serializer=ser, wait_results=False)
        with self.channel.lock:
            self.channel.wait_for(lambda: rec.confirmed or rec.gave_up, None)
        if rec.gave_up:
            raise EngineUnreachable(self.engine, head.id, rec.attempts)
        if not rec.ack:
            raise TaskRejected(head.id, rec.reason, rec.detail)
        with self.channel.batch():
            for m in members:
                self._submit_tree(m, cv.mark_notify(m) if cv.is_workflow(m) else
                                  cv.Leaf(m.id), ser)

    def _result_of(self, handle):
        if isinstance(handle, cv.Leaf):
            r = AsyncResult(handle.task_id, self)
            if handle.parent is not None:
                r.parent = self._result_of(handle.parent)
            return r
        return GroupResult(handle.group_id, [self._result_of(m) for m in handle.members], self)

    # -- results and confirms ---------------------------------------------------

    def AsyncResult(self, task_id):  # noqa: N802 - Celery's name
        """A result handle for any task id (int or 16 hex digits), also one
        another process published (read from the result store)."""
        return AsyncResult(task_id, self)

    def batch(self):
        """`with client.batch():` publishes several tasks per frame."""
        return self.channel.batch()

    def wait_confirms(self, timeout=None):
        """Wait until every task published so far is confirmed. Raises the
        first TaskRejected / EngineUnreachable not raised yet; False on timeout."""
        return self.channel.wait_confirms(timeout)

    def stats(self):
        """Frame counters: frames_sent, tasks_sent, confirms, results,
        retransmits, retransmit_gave_up, duplicates_dropped, ..."""
        with self.channel.lock:
            return dict(self.channel.stats)
