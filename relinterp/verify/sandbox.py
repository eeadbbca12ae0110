"""Run a program of a tree in an empty root: a file system holding only the tree (at
/bundle, read-only) and /dev, /proc, /tmp, where nothing of the host is: no loader, no
library, no shell.  A program that starts there needs nothing but the kernel.

The root is a sandbox that holds against the program in it, whoever runs relinterp
(docs/bundle-and-verify.md lists what it guarantees, and what not): it runs as an
ordinary user of the host (nobody, 65534, when relinterp runs as root) with no
capability, behind pivot_root, with a bounded number of processes (MAX_PROCESSES),
stdin /dev/null and no terminal.  relinterp.verify.emptyroot makes it, with bubblewrap
(`bwrap`) or by itself with unshare(2) (`unshare`, relinterp.verify.rootfs).  Each way
is first tried for real; where neither works the run cannot happen, which is not the
program's fault: SandboxUnavailableError says what to install or enable.  What the
program writes is kept up to a bound (relinterp.verify.capture).

A program for another machine runs under its emulator (relinterp.verify.emulator): a
statically linked qemu, the one file of the host placed in the root, read-only, at
/emulator/.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import stat
import sys
from dataclasses import dataclass

from ..errors import SandboxUnavailableError
from .capture import run_captured
from .emptyroot import SANDBOX_USER, host_root

MOUNT_POINT = "/bundle"
EMULATOR_DIR = "/emulator"  # where an emulator is placed (read-only) in the root
BWRAP, UNSHARE = "bwrap", "unshare"
SANDBOXES = (BWRAP, UNSHARE)
OLD_NAMES = {"unshare+chroot": UNSHARE}  # what relinterp 0.1.0 called `unshare`
MAX_PROCESSES = 512  # processes and threads of the program, all together (RLIMIT_NPROC)
# The package's parent directory: relinterp.verify.emptyroot is imported from there, by a
# Python that reads nothing else (-I -S), however relinterp was installed.
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAUNCH = "import sys; sys.path.insert(0, sys.argv[1]); from relinterp.verify.emptyroot import main; " \
         "sys.exit(main(sys.argv[2]))"
PROBE_TIMEOUT = 60
ENABLE_HINT = ("install bubblewrap (apt-get install bubblewrap), or let unprivileged users create "
               "user namespaces (sysctl user.max_user_namespaces=15000; on Debian 11 and older "
               "kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 an AppArmor profile allowing userns for "
               f"{sys.executable}; in a container, allow unshare/clone in its seccomp profile)")


@dataclass(frozen=True)
class RunResult:
    argv: tuple[str, ...]  # as run inside the empty root
    status: int | None  # exit status; negative: killed by that signal; None: timed out
    stdout: str  # with a line "[... N bytes left out ...]" where the middle was left out
    stderr: str
    sandbox: str  # one of SANDBOXES
    stdout_omitted: int = 0  # bytes left out of stdout (relinterp.verify.capture.HALF kept each side)
    stderr_omitted: int = 0


def sandbox_command(method: str, binds: list[tuple[str, str]], argv: list[str], *, proc: bool = True,
                    check: bool = False) -> list[str]:
    """The command that runs `argv` in an empty root holding `binds` (host path, path
    inside) read-only: the one place where what the root holds and what runs there are
    decided.  With `check`, the root is made and nothing is run (unshare only)."""
    spec = {"parent": os.getpid(), "method": method, "bwrap": shutil.which("bwrap"), "binds": binds,
            "proc": proc, "max_processes": MAX_PROCESSES, "check": check, "argv": argv}
    return [sys.executable, "-I", "-S", "-c", LAUNCH, PACKAGE_PARENT, json.dumps(spec)]


def available_sandbox(preferred: str | None = None) -> str:
    """The first way to make an empty root that works here (`preferred` only, if given:
    by its name or an old one), each tried for real."""
    return _first_working(OLD_NAMES.get(preferred, preferred) if preferred else None)


@functools.lru_cache(maxsize=None)
def _first_working(preferred: str | None) -> str:
    """available_sandbox() of a method by its current name: each is probed once a run,
    whichever name the option gave it."""
    reasons = []
    for method in (preferred,) if preferred else SANDBOXES:
        why = _probe(method)
        if why is None:
            return method
        reasons.append(f"{method}: {why}")
    raise SandboxUnavailableError(f"cannot make an empty root here ({'; '.join(reasons)}): {ENABLE_HINT}")


def _probe(method: str) -> str | None:
    """Why `method` cannot make an empty root here, or None when it can: bwrap runs
    `true` with the host's root as its tree; unshare makes a root (holding one file) and
    stops there."""
    if method == BWRAP:
        tools = [shutil.which(name) for name in ("bwrap", "true")]
        if None in tools:
            return "bwrap not found" if tools[0] is None else "true not found"
        command = sandbox_command(method, [("/", "/")], [tools[1]])
    else:
        command = sandbox_command(method, [(os.path.abspath(__file__), MOUNT_POINT)], [], check=True)
    done = run_captured(command, timeout=PROBE_TIMEOUT, env={})
    if done.status == 0:
        return None
    lines = done.stderr.text().strip().splitlines()
    return lines[-1] if lines else "timed out" if done.status is None else f"exit status {done.status}"


def run_in_empty_root(tree: str, program: str, args: list[str], *, proc: bool = True, timeout: float = 60,
                      sandbox: str | None = None, emulator: str | None = None) -> RunResult:
    """Run `program` (relative to `tree`) with `args` where only the tree exists, under
    the statically linked `emulator` (a file of this machine) if one is given."""
    method = available_sandbox(sandbox)
    inner = os.path.join(MOUNT_POINT, program)
    binds = [(os.path.abspath(tree), MOUNT_POINT)]
    argv = (inner, *args)
    if emulator:
        placed = os.path.join(EMULATOR_DIR, os.path.basename(emulator))
        binds.append((emulator, placed))
        argv = (placed, *argv)
    command = sandbox_command(method, binds, list(argv), proc=proc)
    done = run_captured(command, timeout=timeout, env={"PATH": os.path.dirname(inner), "HOME": "/tmp"})
    return RunResult(argv, done.status, done.stdout.text(), done.stderr.text(), method,
                     done.stdout.omitted, done.stderr.omitted)


def closed_to_the_sandbox(tree: str, program: str) -> str | None:
    """Why `program` (relative to `tree`) cannot run in the empty root when relinterp
    runs as root, and so the program as SANDBOX_USER: the tree, a directory on the way
    or the program itself that other users may not enter or run.  None when it can."""
    if not host_root():
        return None
    path, parts = tree, program.split("/")
    for n, part in enumerate(["."] + parts):
        path = os.path.normpath(os.path.join(path, part))
        mode = os.stat(path).st_mode
        if not mode & stat.S_IXOTH:
            where = "the tree" if n == 0 else os.path.relpath(path, tree)
            what = "run it" if n == len(parts) else "enter it"
            return (f"{where}: other users may not {what} (mode {stat.S_IMODE(mode):04o}), and as root verify "
                    f"runs programs as user nobody ({SANDBOX_USER})")
    return None
