"""Run a program of a tree in an empty root: a file system holding only the tree (at
/bundle, read-only) and /proc, /dev, /tmp.  Nothing of the host is there: no loader, no
library, no shell.  A program that starts there needs nothing but the kernel.

bubblewrap (`bwrap`) makes the root where it can; else unshare + chroot does, as root or,
unprivileged, inside a new user namespace where the user is root.  Both need namespaces
the kernel lets this user create; when neither works the run cannot happen, which is
not the program's fault: SandboxUnavailableError says what to install or enable.

A program for another machine runs under its emulator (relinterp.verify.emulator): a
statically linked qemu, the one file of the host placed in the root, at /emulator/.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from ..errors import SandboxUnavailableError

MOUNT_POINT = "/bundle"
EMULATOR_DIR = "/emulator"  # where an emulator is placed (read-only) in the root
BWRAP, CHROOT = "bwrap", "unshare+chroot"
SANDBOXES = (BWRAP, CHROOT)
HOST_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# Runs as pid 1 of new mount and pid namespaces, before entering the root: sets the
# root up on a tmpfs, then replaces itself with chroot(8) and the program.
CHROOT_SCRIPT = """set -e
root=$1 tree=$2 proc=$3 chroot=$4 emulator=$5; shift 5
mount --make-rprivate /
mount -t tmpfs -o mode=755 none "$root"
mkdir "$root/bundle" "$root/dev" "$root/tmp" "$root/proc"
mount --rbind "$tree" "$root/bundle"
mount -o remount,bind,ro "$root/bundle"
if [ -n "$emulator" ]; then
  mkdir "$root/emulator" && : >"$root/emulator/${emulator##*/}"
  mount --bind "$emulator" "$root/emulator/${emulator##*/}"
  mount -o remount,bind,ro "$root/emulator/${emulator##*/}"
fi
mount --rbind /dev "$root/dev"
mount -t tmpfs none "$root/tmp"
if [ "$proc" = 1 ]; then mount -t proc proc "$root/proc"; fi
exec env -i PATH="$PROGRAM_PATH" HOME=/tmp "$chroot" "$root" "$@"
"""


@dataclass(frozen=True)
class RunResult:
    argv: tuple[str, ...]  # as run inside the empty root
    status: int | None  # exit status; negative: killed by that signal; None: timed out
    stdout: str
    stderr: str
    sandbox: str  # BWRAP or CHROOT


ENABLE_HINT = ("install bubblewrap (apt-get install bubblewrap), or let unprivileged users create "
               "user namespaces (sysctl user.max_user_namespaces=15000; on Debian 11 and older "
               "kernel.unprivileged_userns_clone=1; in a container, allow unshare/clone in its seccomp profile)")


@functools.lru_cache(maxsize=None)
def available_sandbox(preferred: str | None = None) -> str:
    """The first way to make an empty root that works here (`preferred` only, if given),
    each tried for real on a trivial command."""
    reasons = []
    for method in (preferred,) if preferred else SANDBOXES:
        why = _probe(method)
        if why is None:
            return method
        reasons.append(f"{method}: {why}")
    raise SandboxUnavailableError(f"cannot make an empty root here ({'; '.join(reasons)}): {ENABLE_HINT}")


def _probe(method: str) -> str | None:
    """Why `method` cannot make a root here, or None when it can."""
    missing = [tool for tool in _tools(method) if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not found"
    if method == BWRAP:
        command = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                   "--proc", "/proc", "--dev", "/dev", "true"]
    else:
        command = [*_unshare(), "true"]
    probe = subprocess.run(command, capture_output=True, text=True)
    if probe.returncode == 0:
        return None
    return (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]


def _tools(method: str) -> tuple[str, ...]:
    return ("bwrap",) if method == BWRAP else ("unshare", "mount", "chroot")


def _unshare() -> list[str]:
    """New namespaces for unshare+chroot; unprivileged, a user namespace too, in which
    this user is root and may mount and chroot."""
    user = ["--user", "--map-root-user"] if os.geteuid() != 0 else []
    return ["unshare", *user, "--mount", "--pid", "--ipc", "--uts", "--net", "--kill-child", "--"]


def run_in_empty_root(tree: str, program: str, args: list[str], *, proc: bool = True, timeout: float = 60,
                      sandbox: str | None = None, emulator: str | None = None) -> RunResult:
    """Run `program` (relative to `tree`) with `args` where only the tree exists, under
    the statically linked `emulator` (a file of this machine) if one is given."""
    method = available_sandbox(sandbox)
    inner = os.path.join(MOUNT_POINT, program)
    placed = os.path.join(EMULATOR_DIR, os.path.basename(emulator)) if emulator else None
    argv = (*([placed] if placed else []), inner, *args)
    env = {"PATH": os.path.dirname(inner), "HOME": "/tmp"}
    with tempfile.TemporaryDirectory(prefix="relinterp-root.") as root:
        if method == BWRAP:
            command = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--die-with-parent",
                       "--ro-bind", tree, MOUNT_POINT, *(("--ro-bind", emulator, placed) if emulator else ()),
                       "--dev", "/dev", "--tmpfs", "/tmp",
                       *(("--proc", "/proc") if proc else ()), "--chdir", "/tmp", "--", *argv]
        else:
            command = [*_unshare(), "sh", "-c", CHROOT_SCRIPT, "sh", root, tree, "1" if proc else "0",
                       shutil.which("chroot") or "/usr/sbin/chroot", emulator or "", *argv]
            env = {"PATH": HOST_PATH, "PROGRAM_PATH": env["PATH"]}
        try:
            done = subprocess.run(command, capture_output=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired as expired:
            return RunResult(argv, None, _text(expired.stdout), _text(expired.stderr), method)
    return RunResult(argv, done.returncode, _text(done.stdout), _text(done.stderr), method)


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")
