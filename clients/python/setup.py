"""pip install ./clients/python: the taskwire package with its protobuf
modules generated from proto/*.proto at build time (protoc, Debian's
protobuf-compiler), so an installed `import taskwire` needs nothing from
the source tree. No pyproject.toml on purpose: with one, pip builds in an
isolated environment and fetches setuptools from an index, which an
offline machine cannot reach; without it, pip builds with the setuptools
and wheel already installed (Debian's python3-setuptools, python3-wheel)."""
import glob
import os
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "..", "..", "proto")


class BuildWithProto(build_py):
    def run(self):
        super().run()
        out = os.path.join(self.build_lib, "taskwire", "_gen")
        os.makedirs(out, exist_ok=True)
        protos = sorted(glob.glob(os.path.join(PROTO, "*.proto")))
        if not protos:
            raise SystemExit("taskwire: no .proto files at %s (install from the source tree)"
                             % PROTO)
        subprocess.check_call(["protoc", "--proto_path=" + PROTO, "--python_out=" + out]
                              + protos)
        open(os.path.join(out, "__init__.py"), "w").close()


setup(
    name="taskwire",
    version="0.1.0",
    description="Python client and worker for the taskwire task engine",
    packages=["taskwire", "taskwire.contrib"],
    python_requires=">=3.9",
    install_requires=["protobuf"],
    cmdclass={"build_py": BuildWithProto},
)
