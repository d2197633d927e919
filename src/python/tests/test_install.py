"""The package installs as the SPEC says: pip --no-build-isolation in a
venv, with Debian's setuptools, downloading nothing."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_pip_install_in_a_venv_without_downloads(tmp_path):
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("no setuptools (apt-get install python3-setuptools)")
    if importlib.util.find_spec("pip") is None:  # the system's, seen from the venv
        pytest.skip("no pip (apt-get install python3-pip)")
    # A copy, so the build leaves nothing in the source tree.
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "python", src,
                    ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__"))
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    py = str(env_dir / "bin" / "python")
    p = subprocess.run([py, "-m", "pip", "install", "--no-build-isolation", "--no-index",
                        "--disable-pip-version-check", str(src)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    p = subprocess.run([py, "-c", "import udsbroker; print(udsbroker.__file__); "
                        "print(udsbroker.Client, udsbroker.AsyncClient)"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert p.returncode == 0, p.stderr
    assert str(env_dir) in p.stdout.splitlines()[0]
    assert sys.version_info >= (3, 11)
