"""A hostile program (tests/programs/hostile.c) in a tree every user can read, and
`relinterp verify --run` run on it as root or as an unprivileged user (nobody, through
setpriv, with the wheel installed where that user can read it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import PROGRAMS, compile_program, installed, run, unavailable

NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
PID_NAMESPACE = re.compile(r"pid namespace (pid:\[\d+\])")


@pytest.fixture(scope="module")
def shared_place():
    """A directory every user can reach (pytest's own are root's only)."""
    place = Path(tempfile.mkdtemp(prefix="relinterp-sandbox."))
    os.chmod(place, 0o755)
    yield place
    shutil.rmtree(place)


@pytest.fixture(scope="module")
def hostile_tree(shared_place, musl_gcc) -> Path:
    tree = shared_place / "tree"
    tree.mkdir(mode=0o755)
    compile_program(musl_gcc, tree / "hostile", "-static", "-O2", PROGRAMS / "hostile.c")
    return tree


@pytest.fixture
def outside(shared_place) -> Path:
    """A directory of the host outside the tree, where anyone may create a file, with a
    file anyone may read: what the program must not reach."""
    place = Path(tempfile.mkdtemp(dir=shared_place))
    os.chmod(place, 0o1777)
    (place / "marker").write_text("outside the tree\n")
    os.chmod(place / "marker", 0o644)
    return place


@dataclass(frozen=True)
class Verifier:
    """`relinterp verify` as `who` ("root" or "user")."""

    who: str
    command: tuple[str, ...]

    def argv(self, tree: Path, args: str, sandbox: str, *options: str) -> list[str]:
        return [*self.command, "verify", os.fspath(tree), "--run", args, "--sandbox", sandbox, *options]

    def run(self, tree: Path, args: str, sandbox: str, *options: str, **kwargs) -> subprocess.CompletedProcess:
        return run(self.argv(tree, args, sandbox, *options), text=True, cwd="/", **kwargs)


@pytest.fixture(params=["root", "user"])
def verifier(request) -> Verifier:
    if os.geteuid() != 0:
        unavailable("running relinterp as root and as another user needs root")
    if request.param == "root":
        return Verifier("root", (sys.executable, "-m", "relinterp"))
    installed("setpriv", "util-linux")
    wheel = request.getfixturevalue("installed_wheel")
    return Verifier("user", (*AS_NOBODY, os.fspath(wheel.relinterp)))


def program_lines(result: subprocess.CompletedProcess) -> list[str]:
    """What the program printed, as verify shows it."""
    return [line[4:] for line in result.stdout.splitlines() if line.startswith("  | ")]


def escapes(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in program_lines(result) if line.startswith("ESCAPED")]


def processes_in(namespace: str) -> list[int]:
    """The processes whose pid namespace is `namespace` ("pid:[N]")."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == namespace:
                    found.append(int(entry))
            except OSError:
                pass
    return found


def pid_namespace(result: subprocess.CompletedProcess) -> str:
    match = PID_NAMESPACE.search(result.stdout)
    assert match, result.stdout + result.stderr
    return match.group(1)


def descendants(pid: int) -> set[int]:
    """The processes started, directly or not, by `pid` (those whose parent has died
    are not found: call it while they are all alive)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
        except (OSError, ValueError, IndexError):
            pass
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if os.path.exists(f"/proc/{pid}")}
