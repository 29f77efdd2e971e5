"""examples/shop through the real engine: a Django view saves an order and
queues its confirmation mail with delay_on_commit; a taskwire Python worker
(prefork, started as a Celery worker would be) reads the order from the
database and sends the mail through Django's mail API; the mail server
fails the first send and the task's autoretry with backoff gets it out; the
view reads the task's result from taskwire's result store."""
import json
import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.abspath(os.path.join(HERE, ".."))
SHOP = os.path.abspath(os.path.join(HERE, "..", "..", "..", "examples", "shop"))

# A request through Django's test client, in a process of its own (Django's
# settings are per process): prints the JSON the view answered.
REQUEST = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
import django
django.setup()
from django.test import Client
c = Client()
method, path, body = sys.argv[1], sys.argv[2], sys.argv[3]
r = c.post(path, body, content_type="application/json") if method == "POST" else c.get(path)
print(r.status_code, r.content.decode())
"""


@pytest.fixture
def shop_env(tmp_path):
    env = dict(os.environ)
    env.update(PYTHONPATH=os.pathsep.join([PKG, SHOP]), SHOP_DB=str(tmp_path / "shop.db"),
               SHOP_MAIL_DIR=str(tmp_path / "mail"), SHOP_MAIL_STATE=str(tmp_path / "mailtries"),
               SHOP_MAIL_FAIL_FIRST="1", DJANGO_SETTINGS_MODULE="shop.settings")
    r = subprocess.run([sys.executable, "-B", "manage.py", "migrate", "--noinput"], cwd=SHOP,
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return env


def request(env, method, path, body=""):
    r = subprocess.run([sys.executable, "-B", "-c", REQUEST, method, path, body], cwd=SHOP,
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    status, _, text = r.stdout.strip().partition(" ")
    return int(status), json.loads(text)


@pytest.mark.engine
def test_order_mail_sent_by_the_python_worker_after_a_retry(shop_env, client):
    client.control.queue_declare("shop")
    worker = subprocess.Popen([sys.executable, "-B", "-m", "taskwire", "worker",
                               "-A", "shop.tasks_app", "-Q", "shop", "-P", "prefork", "-c", "2"],
                              cwd=SHOP, env=shop_env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        line, lines = "", []
        deadline = time.monotonic() + 30
        while "taskwire worker: ready" not in line and time.monotonic() < deadline:
            line = worker.stdout.readline()
            if not line:
                break
            lines.append(line)
        assert "taskwire worker: ready" in line, "".join(lines)
        status, body = request(shop_env, "POST", "/orders/",
                               json.dumps({"email": "ada@example.com", "item": "a kettle"}))
        assert status == 200, body
        order, task = body["order"], body["task"]
        mail_dir = shop_env["SHOP_MAIL_DIR"]
        def mails():
            names = os.listdir(mail_dir) if os.path.isdir(mail_dir) else []
            return [open(os.path.join(mail_dir, n)).read() for n in names]
        deadline = time.monotonic() + 30
        # the backend creates its file and then writes the message: wait for the text
        while time.monotonic() < deadline and not any("Your order" in m for m in mails()):
            time.sleep(0.1)
        sent = mails()
        assert len(sent) == 1, "mails: %s" % sent
        text = sent[0]
        assert "Your order #%d" % order in text and "ada@example.com" in text, text
        tries = open(shop_env["SHOP_MAIL_STATE"]).read().split()
        assert len(tries) == 2, "one failed send, then the retry: %s" % tries
        for _ in range(50):
            status, st = request(shop_env, "GET", "/tasks/%s/" % task)
            if st["state"] == "SUCCESS":
                break
            time.sleep(0.2)
        assert st["state"] == "SUCCESS", st
        assert st["result"] == {"order": order, "mailed": "ada@example.com", "retries": 1}, st
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=5)
    assert worker.returncode == 0
