"""The package as its users get it: the sdist and wheel built from a clean copy of the
project (what a fresh clone holds), and the wheel installed into a new virtual
environment where nothing is compiled."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import run

ROOT = Path(__file__).resolve().parents[1]
# What a working copy holds beyond a fresh clone: environments, caches, build trees.
NOT_IN_A_CLONE = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", "*.egg-info",
                                        "build", "dist", "work")


@dataclass(frozen=True)
class Distributions:
    source: Path  # the clean copy they were built from
    sdist: Path
    wheel: Path
    log: str  # everything `python -m build` printed


@dataclass(frozen=True)
class InstalledWheel:
    venv: Path

    @property
    def relinterp(self) -> Path:
        return self.venv / "bin" / "relinterp"


def only(paths) -> Path:
    paths = list(paths)
    assert len(paths) == 1, paths
    return paths[0]


@pytest.fixture(scope="session")
def distributions(tmp_path_factory) -> Distributions:
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=NOT_IN_A_CLONE, symlinks=True)
    # Without isolation: the test environment has the build requirements (the test
    # extras), and an isolated build would download them again.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    built = run([sys.executable, "-m", "build", "--no-isolation", "--outdir", work / "dist", source],
                env=env, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    return Distributions(source, only((work / "dist").glob("*.tar.gz")), only((work / "dist").glob("*.whl")),
                         built.stdout + built.stderr)


@pytest.fixture(scope="session")
def installed_wheel(distributions):
    """The wheel in a new environment of the system's Python (as a user of this machine
    would make it), in a directory every user can read: tests run it as `nobody` too."""
    python = "/usr/bin/python3" if run(["/usr/bin/python3", "-c", "import venv, ensurepip"]).returncode == 0 \
        else sys.executable
    home = tempfile.mkdtemp(prefix="relinterp-wheel.")
    try:
        os.chmod(home, 0o755)
        venv = Path(home) / "venv"
        made = run([python, "-m", "venv", venv], text=True)
        assert made.returncode == 0, made.stderr
        # Binary packages only, and no compiler to fall back on.
        env = dict(os.environ, CC="false", CXX="false")
        installed = run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--only-binary", ":all:",
                         distributions.wheel], env=env, text=True, timeout=300)
        assert installed.returncode == 0, installed.stdout + installed.stderr
        yield InstalledWheel(venv)
    finally:
        shutil.rmtree(home)
