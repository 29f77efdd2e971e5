"""pip install ./clients/python offline, into a fresh virtual environment
(Debian's packages visible, no index): the installed package imports and
finds its generated protobuf modules without the source tree."""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def test_pip_install_offline_then_import_outside_the_tree(tmp_path):
    # a copy of the package and the contract: the build writes beside setup.py
    src = tmp_path / "src"
    shutil.copytree(os.path.join(ROOT, "clients", "python"), src / "clients" / "python",
                    ignore=shutil.ignore_patterns("tests", "__pycache__", "build", "*.egg-info"))
    shutil.copytree(os.path.join(ROOT, "proto"), src / "proto")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=120)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-index",
                          str(src / "clients" / "python")], capture_output=True, text=True,
                         timeout=300)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TW_PYTHON_GEN")}
    out = subprocess.run([str(venv / "bin" / "python"), "-c",
                          "import taskwire, taskwire._proto as p; "
                          "print(taskwire.__file__); print(p.wire.__file__); "
                          "print(taskwire.App('x').tasks)"],
                         cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    files = out.stdout.split("\n")
    assert str(venv) in files[0] and str(venv) in files[1], out.stdout
    assert "_gen" in files[1], out.stdout
