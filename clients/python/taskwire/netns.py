"""Open the UDP socket inside a network namespace (`ip netns` name) while
the rest of the process stays where it is: a socket keeps the namespace it
was created in. This lets a process on the host (a web server, say) talk
to an engine that is reachable only inside its namespace (deploy/lib.sh).
Needs CAP_SYS_ADMIN (root), like `ip netns exec`.
"""
import contextlib
import ctypes
import os

CLONE_NEWNET = 0x40000000


def _setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: %s" % os.strerror(e))


@contextlib.contextmanager
def entered(name):
    """Run the body in namespace `name` (this thread only: setns(2) moves
    the calling thread), then come back."""
    if not name:
        yield
        return
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(os.path.join("/var/run/netns", name), os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)
