"""Tasks of durable_remote_test.sh: Python tasks the engine's own lcores do
not know (one they took would fail "unknown task"). Each run appends a
line "TASK_ID QUEUE DELIVERY_COUNT" to $TW_DURABLE_RECORD, so the test
sees every run, where it came from, and how often it was delivered."""
import os
import threading

import taskwire

app = taskwire.App("durable")
_lock = threading.Lock()


@app.task(name="durable.record", bind=True)
def record(self, *args, **kwargs):
    with _lock, open(os.environ["TW_DURABLE_RECORD"], "a") as f:
        f.write("%d %s %d\n" % (int(self.request.id, 16), self.request.delivery_info["queue"],
                                self.request.delivery_count))
    return "ok"
