"""Run a program of a tree in an empty root: a file system holding only the tree (at
/bundle, read-only) and /proc, /dev, /tmp.  Nothing of the host is there: no loader, no
library, no shell.  A program that starts there needs nothing but the kernel.

bubblewrap (`bwrap`) makes the root where it can; as root, unshare + chroot does when
bwrap is missing or cannot create namespaces here.
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
BWRAP, CHROOT = "bwrap", "unshare+chroot"
SANDBOXES = (BWRAP, CHROOT)
HOST_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# Runs as pid 1 of new mount and pid namespaces, before entering the root: sets the
# root up on a tmpfs, then replaces itself with chroot(8) and the program.
CHROOT_SCRIPT = """set -e
root=$1 tree=$2 proc=$3 chroot=$4; shift 4
mount --make-rprivate /
mount -t tmpfs -o mode=755 none "$root"
mkdir "$root/bundle" "$root/dev" "$root/tmp" "$root/proc"
mount --rbind "$tree" "$root/bundle"
mount -o remount,bind,ro "$root/bundle"
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


@functools.lru_cache(maxsize=None)
def available_sandbox() -> str:
    bwrap = shutil.which("bwrap")
    if bwrap is not None:
        probe = subprocess.run([bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                                "--proc", "/proc", "--dev", "/dev", "true"], capture_output=True, text=True)
        if probe.returncode == 0:
            return BWRAP
        why = probe.stderr.strip() or f"exit status {probe.returncode}"
    else:
        why = "bwrap not found (apt-get install bubblewrap)"
    if os.geteuid() == 0 and all(shutil.which(tool) for tool in ("unshare", "mount", "chroot")):
        return CHROOT
    raise SandboxUnavailableError(f"cannot make an empty root: {why}; unshare + chroot needs root")


def run_in_empty_root(tree: str, program: str, args: list[str], *, proc: bool = True, timeout: float = 60,
                      sandbox: str | None = None) -> RunResult:
    """Run `program` (relative to `tree`) with `args` where only the tree exists."""
    method = sandbox or available_sandbox()
    needed = ("bwrap",) if method == BWRAP else ("unshare", "mount", "chroot")
    if not all(shutil.which(tool) for tool in needed):
        raise SandboxUnavailableError(f"cannot make an empty root with {method}: needs {', '.join(needed)}")
    inner = os.path.join(MOUNT_POINT, program)
    argv = (inner, *args)
    env = {"PATH": os.path.dirname(inner), "HOME": "/tmp"}
    with tempfile.TemporaryDirectory(prefix="relinterp-root.") as root:
        if method == BWRAP:
            command = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--die-with-parent",
                       "--ro-bind", tree, MOUNT_POINT, "--dev", "/dev", "--tmpfs", "/tmp",
                       *(("--proc", "/proc") if proc else ()), "--chdir", "/tmp", "--", *argv]
        else:
            command = ["unshare", "--mount", "--pid", "--ipc", "--uts", "--net", "--kill-child", "--",
                       "sh", "-c", CHROOT_SCRIPT, "sh", root, tree, "1" if proc else "0",
                       shutil.which("chroot") or "/usr/sbin/chroot", *argv]
            env = {"PATH": HOST_PATH, "PROGRAM_PATH": env["PATH"]}
        try:
            done = subprocess.run(command, capture_output=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired as expired:
            return RunResult(argv, None, _text(expired.stdout), _text(expired.stderr), method)
    return RunResult(argv, done.returncode, _text(done.stdout), _text(done.stderr), method)


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")
