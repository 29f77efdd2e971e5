"""Tasks as a Celery project's app writes them (only the import differs)."""
import os
import time

from taskwire import shared_task


@shared_task(name="notes.wait_for", bind=True)
def wait_for(self, path):
    """PROGRESS until `path` exists (10 s at most), then its name."""
    self.update_state(state="PROGRESS", meta={"waiting": os.path.basename(path)})
    deadline = time.monotonic() + 10
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError("no %s" % path)
        time.sleep(0.02)
    return {"seen": os.path.basename(path)}


@shared_task(name="notes.divide")
def divide(a, b):
    return a / b
