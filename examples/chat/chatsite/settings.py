"""Settings of the chat example: the only taskwire-specific lines are the
CHANNEL_LAYERS backend and its engine and control socket."""
import os

SECRET_KEY = os.environ.get("CHAT_SECRET_KEY", "example-chat-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "channels", "chat"]
MIDDLEWARE = []
ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"
DATABASES = {}
USE_TZ = True

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "taskwire.contrib.channels.TaskwireChannelLayer",
        "CONFIG": {"engine": os.environ.get("TW_ENGINE"),
                   "control_socket": os.environ.get("TW_SOCKET"),
                   "prefix": "chat"},
    },
}
