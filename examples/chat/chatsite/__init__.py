"""A Django Channels chat whose channel layer is taskwire (README.md)."""
