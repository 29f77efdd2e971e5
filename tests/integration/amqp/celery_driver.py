"""Drives amqp_celery_test.sh's Celery scenarios from the publisher's side
(delay, countdown, retries, chain, group, chord); the kill -9 scenario is
split in two steps run by the shell script (start / finish): the slow task
goes to a queue only the first worker takes, and once that worker is
killed the second is told (add_consumer) to take it."""
import os
import sys
import time

from celery import chain, chord, group

from celery_app import add, flaky, slow, tsum


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


def basics():
    t0 = time.monotonic()
    r = add.delay(2, 3)
    check(r.get(timeout=30) == 5, "delay(): add(2, 3) = 5 in %.2f s" % (time.monotonic() - t0))
    t0 = time.monotonic()
    r = add.apply_async((20, 22), countdown=1)
    v = r.get(timeout=30)
    dt = time.monotonic() - t0
    check(v == 42 and dt >= 0.95, "apply_async(countdown=1): 42 after %.2f s" % dt)
    path = os.path.join(os.environ["WORK"], "flaky")
    r = flaky.delay(path)
    check(r.get(timeout=30) == 3, "retries: succeeded on the third run")
    r = chain(add.s(1, 2), add.s(3), add.s(4)).delay()
    check(r.get(timeout=30) == 10, "chain: ((1 + 2) + 3) + 4 = 10")
    r = group(add.s(i, i) for i in range(5)).delay()
    check(r.get(timeout=30) == [0, 2, 4, 6, 8], "group of 5")
    r = chord((add.s(i, 1) for i in range(4)), tsum.s()).delay()
    check(r.get(timeout=30) == 10, "chord: sum of 4 members = 10")


def kill_start():
    # to the queue only the worker to be killed takes
    r = slow.apply_async((os.path.join(os.environ["WORK"], "slow"), 1.5), queue="tw.kill")
    with open(os.path.join(os.environ["WORK"], "slow.id"), "w") as f:
        f.write(r.id)
    print("slow task", r.id)


def kill_finish():
    from celery.result import AsyncResult
    from celery_app import app
    with open(os.path.join(os.environ["WORK"], "slow.id")) as f:
        r = AsyncResult(f.read().strip(), app=app)
    # the other worker takes the queue now (remote control, its pidbox)
    replies = app.control.add_consumer("tw.kill", destination=[os.environ["W2"]], reply=True,
                                       timeout=10)
    check(len(replies) == 1 and "ok" in list(replies[0].values())[0],
          "add_consumer tw.kill on %s: %r" % (os.environ["W2"], replies))
    check(r.get(timeout=60) == "slow done", "slow task finished on the second worker")
    with open(os.path.join(os.environ["WORK"], "slow")) as f:
        starts = [l for l in f if l.startswith("start")]
    check(len(starts) == 2, "slow task started twice (killed, redelivered): %r" % starts)


if __name__ == "__main__":
    {"basics": basics, "kill_start": kill_start, "kill_finish": kill_finish}[sys.argv[1]]()
