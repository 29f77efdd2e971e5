"""The studio's tasks, as a Celery project writes them (only the import
differs). A film is made in four steps:

    generate_script(idea) -> generate_scenes(film) -> shoot_all(cut)
        -> chord(generate_shots(scene) for every scene, on the GPU hosts)
        -> collect(shots)

The first three are a chain. shoot_all learns how many scenes there are
only when it runs, so it starts the fan-out itself: a chord of one
generate_shots per scene (queue "gpu": GPU hosts run them, one at a time
each) whose join, collect, gathers the shots. Everything the chain's
tasks publish carries the chain's root id, so a page following the root
sees every step, every shot's progress and the join.

The "generation" is deterministic text standing in for a model's output,
of the sizes the settings ask for: what matters here is the shape of the
work and the results of several kB that travel between the steps.
"""
import hashlib
import os
import time

from django.conf import settings
from taskwire import chain, chord, group, shared_task


def _text(seed, size):
    """size characters of text derived from seed."""
    out, block = [], seed.encode()
    while sum(map(len, out)) < size:
        block = hashlib.sha256(block).digest()
        out.append(block.hex())
    return "".join(out)[:size]


def _host():
    """Which machine ran this: the network namespace stands for the host."""
    return str(os.stat("/proc/self/ns/net").st_ino)


@shared_task(name="films.generate_script", bind=True)
def generate_script(self, idea):
    title = " ".join(w.capitalize() for w in idea.split()) or "Untitled"
    parts = []
    for k in range(3):
        parts.append(_text("%s/act-%d" % (idea, k), settings.STUDIO_SCRIPT_BYTES // 3))
        self.update_state(state="PROGRESS", meta={"step": "script", "done": k + 1, "of": 3})
    return {"idea": idea, "title": title, "script": "".join(parts)}


@shared_task(name="films.generate_scenes")
def generate_scenes(film):
    text, n = film["script"], settings.STUDIO_SCENES
    size = -(-len(text) // n)
    scenes = [{"n": i + 1, "text": text[i * size:(i + 1) * size]} for i in range(n)]
    return {"title": film["title"], "scenes": scenes}


# The engine keeps each member's result in a cell of the group until the
# join takes them all: 256 bytes unless the group asks for more (at most
# 4096). A shot is STUDIO_SHOT_BYTES of text in a small JSON object.
SHOT_CELL_BYTES = min(4096, settings.STUDIO_SHOT_BYTES + 512)


@shared_task(name="films.shoot_all")
def shoot_all(cut):
    shots = [generate_shots.s(cut["title"], scene).set(queue="gpu") for scene in cut["scenes"]]
    joined = chord(group(shots, result_cell=SHOT_CELL_BYTES))(collect.s(cut["title"]))
    return {"title": cut["title"], "scenes": len(shots), "collect": joined.id}


@shared_task(name="films.generate_shots", bind=True)
def generate_shots(self, title, scene):
    steps = 3
    for k in range(steps):
        time.sleep(settings.STUDIO_SHOT_SECONDS / steps)
        self.update_state(state="PROGRESS",
                          meta={"step": "shot", "scene": scene["n"], "done": k + 1, "of": steps})
    image = _text("%s/%s" % (title, scene["text"]), settings.STUDIO_SHOT_BYTES)
    return {"scene": scene["n"], "host": _host(), "image": image}


@shared_task(name="films.collect")
def collect(shots, title):
    return {"title": title, "shots": len(shots), "scenes": sorted(s["scene"] for s in shots),
            "bytes": sum(len(s["image"]) for s in shots),
            "hosts": sorted({s["host"] for s in shots})}


def new_run_id():
    return "%016x" % (int.from_bytes(os.urandom(8), "little") | 1)


def generate_all(idea, run_id=None):
    """Start a film. @return (run id, the chain's AsyncResult): the run id is
    the chain's root, which a page follows (chosen here unless given); the
    result is shoot_all's, naming the join."""
    run_id = run_id or new_run_id()
    last = chain(generate_script.s(idea).set(task_id=run_id), generate_scenes.s(),
                 shoot_all.s()).apply_async()
    return run_id, last
