"""The demo's taskwire App (a Celery project's celery.py), settings from the
TASKWIRE_ names. Its client is made on first use and shared by the dev
server's request threads (the client is thread-safe); its UDP socket is
opened inside the engine's network namespace (TASKWIRE_NETNS), so Django
itself runs on the host where the browser can reach it."""
from taskwire.contrib.django import project_app

app = project_app("demo", "demo.settings")
