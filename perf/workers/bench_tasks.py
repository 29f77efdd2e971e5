"""The Python side of `make perf-workers`: a noop task by the engine's
built-in name, so one publisher drives the engine's lcores, tw-worker and
this worker with the same frames."""
import taskwire

app = taskwire.App("bench")


@app.task(name="noop")
def noop(*args):
    return None
