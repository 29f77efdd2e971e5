"""The prefork pool: tasks run in child processes, so a task that never
returns, or takes its process down, costs a child and not the worker.

The parent owns the engine connection (Consumer); each child owns one
end of a pipe. The parent hands a child one delivery at a time (its
bytes); the child runs it with the worker's own code and sends back the
acks it would have sent (PROGRESS as it goes, then the final one), and
"done". The parent forwards the acks to the engine.

 - time_limit: a child past its task's hard limit is killed (SIGKILL),
   the task acked FAILURE "TimeLimitExceeded", and the child replaced;
 - a child that dies mid-task (a crash, os._exit, the OOM killer): its
   task is put back at the head of its queue (Nack with requeue: the next
   delivery has delivery_count + 1) and the child replaced;
 - --max-tasks-per-child M: a child leaves after M tasks and is replaced.
"""
import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time

from ._proto import wire

log = logging.getLogger("taskwire.worker")


class _PipeAcks:
    """What a child's worker code acks through: the pipe to the parent."""

    def __init__(self, conn):
        self.conn = conn

    def ack(self, tag, outcome, **kw):
        self.conn.send(("ack", tag, outcome, kw))


def _die_with_parent():
    """PR_SET_PDEATHSIG: a child must not outlive a worker killed with -9
    (its task goes to another worker; a second run here would be a
    duplicate nobody acks)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)     # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:
        os._exit(1)     # the parent is gone already


def _child_main(worker, conn, max_tasks, parent_ends):
    _die_with_parent()
    # the parent's ends of every pipe (this child's too): held here, they
    # would keep a pipe open after the parent is gone
    for end in parent_ends:
        end.close()
    # the parent's signal handlers are not the child's: a warm shutdown is
    # the parent's to run (it closes the pipe), SIGINT from a terminal too
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, worker._on_alarm)
    worker.consumer = _PipeAcks(conn)
    done = 0
    while max_tasks is None or done < max_tasks:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        d = wire.Deliver()
        d.ParseFromString(msg)
        worker.execute(d, soft_alarm=True)
        conn.send(("done", d.delivery_tag))
        done += 1


class _Child:
    def __init__(self, pool):
        parent_end, child_end = multiprocessing.Pipe()
        ctx = multiprocessing.get_context("fork")
        ends = [c.conn for c in getattr(pool, "children", []) if c is not None] + [parent_end]
        self.proc = ctx.Process(target=_child_main, args=(pool.worker, child_end,
                                                          pool.max_tasks_per_child, ends),
                                daemon=True)
        self.proc.start()
        child_end.close()
        self.conn = parent_end
        self.tag = None             # the delivery it runs, or None when idle
        self.started = 0.0
        self.limit = None           # hard time limit of the running task, s
        self.killed = False         # killed by the parent: its task is acked already
        self.gone = threading.Event()
        self.reader = threading.Thread(target=pool._read, args=(self,), daemon=True,
                                       name="taskwire-child-%d" % self.proc.pid)
        self.reader.start()


class PreforkPool:
    def __init__(self, worker, processes, max_tasks_per_child=None):
        self.worker = worker
        self.consumer = worker.consumer
        self.max_tasks_per_child = max_tasks_per_child
        self.lock = threading.Condition()
        self.children = []
        for _ in range(processes):
            self.children.append(_Child(self))
        self.stats = {"children_replaced": 0, "time_limited": 0, "child_deaths": 0}

    # -- the parent's side of each pipe ------------------------------------------

    def _read(self, child):
        while True:
            try:
                msg = child.conn.recv()
            except (EOFError, OSError):
                break
            if msg[0] == "ack":
                _, tag, outcome, kw = msg
                self.consumer.ack(tag, outcome, **kw)
            elif msg[0] == "done":
                with self.lock:
                    child.tag = None
                    self.lock.notify_all()
        self._child_gone(child)

    def _child_gone(self, child):
        with self.lock:
            tag, killed = child.tag, child.killed
            child.tag = None
            child.gone.set()
            self.lock.notify_all()
        child.proc.join(timeout=5)
        if tag is not None and not killed:
            self.stats["child_deaths"] += 1
            log.error("worker child %d died (exit %s) running delivery %x: requeued",
                      child.proc.pid, child.proc.exitcode, tag)
            self.consumer.ack(tag, "REJECT", requeue=True,
                              error="worker child died (exit %s)" % child.proc.exitcode)

    # -- running ----------------------------------------------------------------------

    def submit(self, d, shutdown):
        """Give d to an idle child (waiting for one). @return False if the
        worker is shutting down first (d is then left unacked: the cancel
        gives it back)."""
        task = self.worker.app.tasks.get(d.task.name)
        limit = getattr(task, "time_limit", None)
        data = d.SerializeToString()
        with self.lock:
            while True:
                self._replace_gone()
                idle = [c for c in self.children if c.tag is None and not c.gone.is_set()]
                if idle:
                    break
                if shutdown.is_set():
                    return False
                self._enforce_limits()
                self.lock.wait(0.05)
            c = idle[0]
            c.tag, c.started, c.limit = d.delivery_tag, time.monotonic(), limit
            c.killed = False
        try:
            c.conn.send(data)
        except (BrokenPipeError, OSError):
            pass        # it died just now: its reader requeues the task
        return True

    def _replace_gone(self):
        for i, c in enumerate(self.children):
            if c.gone.is_set():
                self.stats["children_replaced"] += 1
                self.children[i] = _Child(self)

    def _enforce_limits(self):
        now = time.monotonic()
        for c in self.children:
            if c.tag is None or c.limit is None or c.killed or now - c.started < c.limit:
                continue
            c.killed = True
            self.stats["time_limited"] += 1
            log.error("Hard time limit (%ss) exceeded for delivery %x: child %d killed",
                      c.limit, c.tag, c.proc.pid)
            self.consumer.ack(c.tag, "FAILURE",
                              error="TimeLimitExceeded: task ran past its time limit (%ss)"
                              % c.limit)
            try:
                os.kill(c.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def tick(self):
        """Housekeeping between deliveries: limits, replacements."""
        with self.lock:
            self._enforce_limits()
            self._replace_gone()

    def busy(self):
        with self.lock:
            return sum(c.tag is not None and not c.gone.is_set() for c in self.children)

    def close(self, timeout=None):
        """Warm: wait for running tasks (their limits still enforced), then
        stop the children."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.busy() and (deadline is None or time.monotonic() < deadline):
            self.tick()
            time.sleep(0.05)
        for c in self.children:
            try:
                c.conn.send(None)
            except OSError:
                pass
        for c in self.children:
            c.proc.join(timeout=5)
            if c.proc.is_alive():
                c.proc.kill()
                c.proc.join(timeout=5)
