"""Shared fixtures. Unit tests need nothing; engine tests need a running
engine, whose address and control socket come from the environment that
tests/integration/run.sh (or deploy/lib.sh's engine.env) provides:
TW_ENGINE, TW_SOCKET; they run inside the engine's network namespace."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import taskwire  # noqa: E402

QUEUE = "pyjobs"


def pytest_collection_modifyitems(config, items):
    if os.environ.get("TW_ENGINE") and os.environ.get("TW_SOCKET"):
        return
    skip = pytest.mark.skip(reason="needs an engine: TW_ENGINE and TW_SOCKET "
                            "(run tests/integration/python_client_test.sh)")
    for item in items:
        if "engine" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line("markers", "engine: needs a running taskwire engine")


@pytest.fixture(scope="session")
def client():
    c = taskwire.Client(default_queue=QUEUE)
    c.control.queue_declare(QUEUE)
    yield c
    c.close()


@pytest.fixture(scope="session")
def add(client):
    return client.task("add")
