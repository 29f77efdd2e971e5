"""Argument and result encodings.

The engine treats args and results as opaque bytes; the built-in C tasks
speak JSON, so JSON is the default and Python and C tasks interoperate.
A serializer is any object with dumps(args, kwargs) -> bytes and
loads(bytes) -> object; register one by name with register() and pick it
per client or per call (serializer="...").
"""
import json


class JSONSerializer:
    """Positional args as a JSON array (what the engine's workflow steps
    prepend a parent's result to), keyword args alone as a JSON object.
    An empty result (noop) loads as None, as the engine counts it as null."""

    name = "json"

    def dumps(self, args, kwargs):
        if kwargs:
            if args:
                raise TypeError("the JSON serializer sends either positional args (a JSON "
                                "array) or keyword args (a JSON object), not both")
            return json.dumps(kwargs, separators=(",", ":")).encode()
        return json.dumps(list(args), separators=(",", ":")).encode()

    def loads(self, data):
        if not data:
            return None
        return json.loads(data)


class RawSerializer:
    """Bytes as they are: one positional bytes/str argument, results as bytes."""

    name = "raw"

    def dumps(self, args, kwargs):
        if kwargs or len(args) > 1:
            raise TypeError("the raw serializer takes one bytes argument")
        if not args:
            return b""
        a = args[0]
        return a.encode() if isinstance(a, str) else bytes(a)

    def loads(self, data):
        return bytes(data)


_registry = {"json": JSONSerializer(), "raw": RawSerializer()}


def register(name, serializer):
    """Make serializer available as serializer=name."""
    _registry[name] = serializer


def get(name_or_obj):
    """A serializer by name, or the object itself if it already is one."""
    if hasattr(name_or_obj, "dumps") and hasattr(name_or_obj, "loads"):
        return name_or_obj
    try:
        return _registry[name_or_obj]
    except KeyError:
        raise ValueError("unknown serializer %r (known: %s)"
                         % (name_or_obj, ", ".join(sorted(_registry)))) from None
