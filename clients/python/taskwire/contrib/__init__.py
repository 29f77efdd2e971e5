"""Integrations with frameworks: taskwire.contrib.django (a Django
project's tasks app, settings, views) and taskwire.contrib.channels (a
Django Channels channel layer)."""
