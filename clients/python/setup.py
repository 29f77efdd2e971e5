"""pip install --no-build-isolation ./clients/python: the taskwire package
(metadata in pyproject.toml) with its protobuf modules generated from
proto/*.proto at build time (protoc, Debian's protobuf-compiler), so an
installed `import taskwire` needs nothing from the source tree. This file
holds only that build step, which pyproject.toml cannot say."""
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


setup(cmdclass={"build_py": BuildWithProto})
