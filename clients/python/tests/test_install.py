"""pip install --no-build-isolation ./clients/python offline (the README's
command), into a fresh virtual environment (Debian's packages visible, no
index): the installed package, its Django app and its `taskwire` command
work without the source tree; pip uninstall takes every file it put
there, the generated protobuf modules included."""
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
    # Debian's pip itself (seen through the system site packages) runs in
    # the environment: a venv with its own pip costs ~10 s more to make
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(venv)], check=True, timeout=120)
    pip_cmd = [str(venv / "bin" / "python"), "-m", "pip"]
    pip = subprocess.run(pip_cmd + ["install", "--no-index",
                          "--no-build-isolation", str(src / "clients" / "python")],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TW_PYTHON_GEN")}
    out = subprocess.run([str(venv / "bin" / "python"), "-c",
                          "import taskwire, taskwire._proto as p; "
                          "print(taskwire.__file__); print(p.wire.__file__); "
                          "print(taskwire.App('x').tasks); "
                          "import taskwire.contrib.django.apps as a; print(a.TaskwireConfig.label)"],
                         cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    files = out.stdout.split("\n")
    assert str(venv) in files[0] and str(venv) in files[1], out.stdout
    assert "_gen" in files[1], out.stdout
    assert files[3] == "taskwire", out.stdout
    cmd = subprocess.run([str(venv / "bin" / "taskwire"), "worker", "-A", "no_such_module"],
                         cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=60)
    assert cmd.returncode == 1 and "No module named 'no_such_module'" in cmd.stderr, cmd.stderr
    site = os.path.dirname(os.path.dirname(files[0]))
    gone = subprocess.run(pip_cmd + ["uninstall", "-y", "taskwire"],
                          capture_output=True, text=True, timeout=120)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    left = [n for n in os.listdir(site) if n.startswith("taskwire")]
    assert left == [] and not (venv / "bin" / "taskwire").exists(), left
