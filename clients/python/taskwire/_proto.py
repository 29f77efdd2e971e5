"""The generated protobuf modules (proto/taskwire.proto, proto/control.proto).

They are generated at build time by clients/python/build.sh into
build/python/ and never committed, so this module finds them: the
directory named by $TW_PYTHON_GEN, else build/python/ of the source tree
this package sits in, else taskwire/_gen/ (where `pip install` puts them),
else whatever is already importable.
"""
import os
import sys


def _add_generated_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.environ.get("TW_PYTHON_GEN"),
                  os.path.join(here, "..", "..", "..", "build", "python"),
                  os.path.join(here, "_gen")]
    for d in candidates:
        if d and os.path.isfile(os.path.join(d, "taskwire_pb2.py")):
            d = os.path.abspath(d)
            if d not in sys.path:
                sys.path.insert(0, d)
            return


_add_generated_dir()
try:
    import taskwire_pb2 as wire  # noqa: E402
    import control_pb2 as control  # noqa: E402
except ImportError as e:  # pragma: no cover - a setup problem, said plainly
    raise ImportError("taskwire: the generated protobuf modules are missing; run "
                      "clients/python/build.sh (or `make python-client`), or point "
                      "TW_PYTHON_GEN at their directory (%s)" % e) from e

FRAME_MAGIC = 0x31465754
FRAME_VERSION = 1

STATE_NAMES = {v.number: v.name for v in wire.DESCRIPTOR.enum_types_by_name["TaskState"].values}
# twctl's and libtaskwire's spelling of NACK reasons (README: Confirms and errors)
NACK_NAMES = {v.number: v.name[len("NACK_"):].lower().replace("_", "-")
              for v in wire.DESCRIPTOR.enum_types_by_name["NackReason"].values}
FINAL_STATES = frozenset(("SUCCESS", "FAILURE", "REVOKED", "EXPIRED", "REJECTED"))
