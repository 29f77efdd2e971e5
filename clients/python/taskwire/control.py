"""tw-control's Unix control socket (proto/control.proto): each message is
a 4-byte little-endian length and a packed Request or Response; one
Response answers each Request. One connection per call, as twctl and
libtaskwire's tw_result_fetch do, so any thread may call.
"""
import socket
import struct

from ._proto import control
from .errors import ControlError

MSG_MAX = 4 << 20


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ControlError("tw-control closed the connection mid-reply")
        buf += chunk
    return bytes(buf)


class ControlClient:
    def __init__(self, path, timeout=5.0):
        self.path = path
        self.timeout = timeout

    def call(self, request):
        """Send one Request. @return its Response; raises ControlError when
        tw-control cannot be reached or answers ok=false."""
        data = request.SerializeToString()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(self.timeout)
                s.connect(self.path)
                s.sendall(struct.pack("<I", len(data)) + data)
                (n,) = struct.unpack("<I", _recv_exact(s, 4))
                if n > MSG_MAX:
                    raise ControlError("tw-control reply of %d bytes is over the 4 MiB limit" % n)
                resp = control.Response.FromString(_recv_exact(s, n))
        except OSError as e:
            raise ControlError("tw-control socket %s: %s" % (self.path, e)) from e
        if not resp.ok:
            raise ControlError("tw-control: %s" % (resp.error or "request refused"))
        return resp

    def result(self, task_id):
        """The task's state as the result store (or the engine) knows it: a
        control.TaskResult (state: taskwire.TaskState number)."""
        return self.call(control.Request(result=control.TaskRef(task_id=task_id))).result

    def forget(self, task_id):
        self.call(control.Request(forget=control.TaskRef(task_id=task_id)))

    def revoke(self, task_id):
        self.call(control.Request(revoke=control.TaskRef(task_id=task_id)))

    def queue_declare(self, name, **policy):
        """Declare a queue; policy: control.QueueDeclare fields (max_length, ...)."""
        self.call(control.Request(queue_declare=control.QueueDeclare(name=name, **policy)))

    def queue_delete(self, name):
        self.call(control.Request(queue_delete=control.QueueDelete(name=name)))
