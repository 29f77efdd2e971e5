"""python3 -m taskwire worker -A MODULE[:APP] -Q q1,q2 [-P prefork|threads|solo] [-c N]
[--prefetch-multiplier K] [--max-tasks-per-child M] [--engine IP:PORT] [-l info]

Imports MODULE (its tasks register with the App), finds the App (the
attribute APP, else `app`, else the only taskwire.App in the module) and
serves its tasks from the queues. Exit status: 0 after a warm shutdown,
1 when the module does not import or the engine refuses or does not
answer the subscription, 2 on usage errors.
"""
import argparse
import importlib
import logging
import os
import sys

from .app import App
from .worker import SubscribeRefused, Worker


def find_app(spec):
    mod_name, _, attr = spec.partition(":")
    sys.path.insert(0, os.getcwd())
    module = importlib.import_module(mod_name)
    if attr:
        return getattr(module, attr)
    if isinstance(getattr(module, "app", None), App):
        return module.app
    apps = [v for v in vars(module).values() if isinstance(v, App)]
    if len(apps) != 1:
        raise LookupError("module %s has %d taskwire.App objects; name one as %s:NAME"
                          % (mod_name, len(apps), mod_name))
    return apps[0]


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m taskwire")
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker", help="run an app's tasks from the engine's queues")
    w.add_argument("-A", "--app", required=True, help="MODULE or MODULE:ATTRIBUTE")
    w.add_argument("-Q", "--queues", default=None, help="queues, comma-separated "
                   "(default: the app's task_default_queue)")
    w.add_argument("-P", "--pool", default="prefork", choices=("prefork", "solo", "threads", "asyncio"))
    w.add_argument("--max-tasks-per-child", type=int, default=None)
    w.add_argument("-c", "--concurrency", type=int, default=None)
    w.add_argument("--prefetch-multiplier", type=int, default=4)
    w.add_argument("--engine", default=None, help="IP:PORT (default: app.conf.engine, $TW_ENGINE)")
    w.add_argument("--lease-ms", type=int, default=0, help="visibility timeout (engine's: 30 s)")
    w.add_argument("-n", "--hostname", default=None)
    w.add_argument("-l", "--loglevel", default="info")
    a = p.parse_args(argv)
    if a.concurrency is not None and a.concurrency < 1:
        p.error("-c must be 1 or more")
    if a.prefetch_multiplier < 1:
        p.error("--prefetch-multiplier must be 1 or more")
    logging.basicConfig(level=getattr(logging, a.loglevel.upper(), logging.INFO),
                        format="[%(asctime)s: %(levelname)s/%(processName)s] %(message)s")
    try:
        app = find_app(a.app)
    except Exception as e:  # noqa: BLE001 - any import failure is the user's to see
        print("taskwire worker: cannot load app %s: %s: %s" % (a.app, type(e).__name__, e),
              file=sys.stderr)
        return 1
    try:
        if os.environ.get("DJANGO_SETTINGS_MODULE"):
            import django       # a Django project: its apps first, then its tasks
            django.setup()
        app.finalize()
    except Exception as e:  # noqa: BLE001
        print("taskwire worker: cannot load the tasks of %s: %s: %s"
              % (a.app, type(e).__name__, e), file=sys.stderr)
        return 1
    queues = [q for q in (a.queues or app.conf.get("task_default_queue") or "").split(",") if q]
    try:
        worker = Worker(app, queues, pool=a.pool, concurrency=a.concurrency,
                        prefetch_multiplier=a.prefetch_multiplier, engine=a.engine,
                        lease_ms=a.lease_ms, hostname=a.hostname,
                        max_tasks_per_child=a.max_tasks_per_child)
        worker.run()
    except (SubscribeRefused, TimeoutError, ValueError) as e:
        print("taskwire worker: %s" % e, file=sys.stderr)
        return 1
    return 0


def console():
    """The `taskwire` command a pip install makes (same as python3 -m taskwire)."""
    sys.exit(main())


if __name__ == "__main__":
    console()
