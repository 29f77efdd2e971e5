"""The delivery a worker is running in this thread or asyncio task, for
what the task publishes while it runs: as in Celery, such tasks (and the
workflows they start) carry the running task's root_id and have it as
their parent_id, so the engine's events and a view token for the root
follow the whole tree, however many publishes deep."""
import contextvars

# the Context (app.Context) of the running task; None outside a task and
# in eager runs (apply(): nothing was delivered, there is no tree)
request = contextvars.ContextVar("taskwire_current_request", default=None)


def lineage():
    """(root_id, parent_id) as integers for a publish made now, or None."""
    r = request.get()
    if r is None or r.is_eager or not r.id:
        return None
    return int(r.root_id or r.id, 16), int(r.id, 16)
