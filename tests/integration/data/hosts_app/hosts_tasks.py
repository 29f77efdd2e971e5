"""Tasks of python_hosts_test.sh: each step reports the network namespace
it ran in (the inode of /proc/self/ns/net), so the test sees which host
ran it."""
import os
import time

import taskwire

app = taskwire.App("hosts")
app.conf.task_default_queue = "local"


def where():
    return str(os.stat("/proc/self/ns/net").st_ino)


@app.task(name="hosts.prepare", queue="local")
def prepare(idea):
    return {"idea": idea, "steps": [["prepare", where()]]}


@app.task(name="hosts.render", queue="gpu", bind=True)
def render(self, job):
    if job.get("marker"):
        with open(job["marker"], "a") as f:
            f.write("%d %d\n" % (os.getpid(), self.request.delivery_count))
    time.sleep(job.get("seconds", 0.05))
    job["steps"] = job["steps"] + [["render", where()]]
    job["delivery_count"] = self.request.delivery_count
    return job


@app.task(name="hosts.publish", queue="local")
def publish(job):
    job["steps"] = job["steps"] + [["publish", where()]]
    job.pop("delivery_count", None)
    return job


@app.task(name="hosts.collect", queue="local")
def collect(results):
    return {"shots": len(results), "where": [r["steps"][-1][1] for r in results]}
