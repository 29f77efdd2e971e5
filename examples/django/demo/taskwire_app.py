"""The demo's one taskwire.Client, made on first use and shared by the dev
server's request threads (the client is thread-safe). Its UDP socket is
opened inside the engine's network namespace, so Django itself runs on
the host where the browser can reach it."""
import os
import sys
import threading

from django.conf import settings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "..", "clients", "python"))
import taskwire  # noqa: E402

_lock = threading.Lock()
_client = None


def client():
    global _client
    with _lock:
        if _client is None:
            cfg = settings.TASKWIRE
            _client = taskwire.Client(engine=cfg["engine"], control_socket=cfg["control_socket"],
                                      netns=cfg["netns"], default_queue=cfg["queue"])
        return _client
