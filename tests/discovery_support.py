"""What the loader-discovery tests share: patching with candidate options, running with
the trace on, odd loaders to offer as candidates, and a place where setuid works."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from conftest import relinterp, run, run_hidden, unavailable

TRACE_PREFIX = "relinterp: "
NOBODY = 65534


def patch(app: Path, *options: str) -> str:
    """`relinterp patch APP OPTIONS...` through the real CLI; returns its stdout."""
    result = relinterp("patch", app, *options)
    assert result.returncode == 0, result.stderr
    return result.stdout


def env_with(**variables: str) -> dict[str, str]:
    return {**os.environ, **variables}


def run_traced(argv, **kwargs):
    """run_hidden with RELINTERP_DEBUG=1; returns (result, trace lines without the prefix)."""
    env = env_with(RELINTERP_DEBUG="1", **kwargs.pop("env", {}))
    result = run_hidden(argv, env=env, **kwargs)
    lines = result.stderr.splitlines()
    trace = [line[len(TRACE_PREFIX):] for line in lines if line.startswith(TRACE_PREFIX)]
    return result, trace


def i386_shared_object(directory: Path) -> Path:
    """A real 32-bit x86 shared object (what a multilib host has beside its 64-bit loader),
    made with the host's own binutils."""
    source = directory / "exit32.s"
    source.write_text(".text\n.globl _start\n_start:\n  movl $1, %eax\n  int $0x80\n")
    obj, out = directory / "exit32.o", directory / "ld32.so"
    assert run(["as", "--32", "-o", obj, source]).returncode == 0
    assert run(["ld", "-m", "elf_i386", "-shared", "-o", out, obj]).returncode == 0
    return out


def as_nobody(argv) -> list:
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]


def _unreachable_by_others(directory: Path) -> Path | None:
    """The first directory on the way to `directory` that others cannot search."""
    for d in (directory, *directory.parents):
        if not d.stat().st_mode & 0o001:
            return d
    return None


def setuid_workspace() -> Path:
    """A fresh root-owned directory, mode 755, on a file system that honours setuid bits,
    every directory above it searchable by others, so that an unprivileged user can start
    a setuid-root program in it (pytest's own tmp dirs are private)."""
    if shutil.which("setpriv") is None:
        unavailable("setpriv is needed to run a program as an unprivileged user (util-linux)")
    refused = []
    for parent in (Path(tempfile.gettempdir()), Path("/var/tmp"), Path(__file__).resolve().parent):
        if not parent.is_dir():
            continue
        if os.statvfs(parent).f_flag & os.ST_NOSUID:
            refused.append(f"{parent} is mounted nosuid")
        elif (blocked := _unreachable_by_others(parent)) is not None:
            refused.append(f"{blocked} is not searchable by others")
        else:
            directory = Path(tempfile.mkdtemp(prefix="relinterp-secure-", dir=parent))
            directory.chmod(0o755)
            return directory
    unavailable("no directory for a setuid test: " + "; ".join(refused))
    raise AssertionError("unreachable")
