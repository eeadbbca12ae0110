"""Make the empty root and run a program in it (relinterp.verify.sandbox runs this
with a SPEC, a JSON object, in `python -I -S -c`).  The program runs as an ordinary user
of the host (relinterp's own, or SANDBOX_USER when that is the host's root), with no
capability and no_new_privs, with the same user and group ids in its own user namespace,
in new mount, pid, ipc, uts and net namespaces, with at most `max_processes` processes
and threads, in a root that holds the `binds` read-only, a few devices, its own /proc
(the kernel-wide parts read-only) and a private /tmp.  bubblewrap makes that root
("bwrap"), or relinterp.verify.rootfs does ("unshare").

Only the standard library, all of it imported before the host's file system goes away:
as root, this process becomes a user that may not be able to read relinterp's files.
Failing to make the root exits with SETUP_FAILED and one line on stderr.
"""

from __future__ import annotations

import json
import os
import resource
import signal

from .rootfs import (CLONE_NEWNS, PR_SET_DUMPABLE, PR_SET_PDEATHSIG, SCRATCH, SETUP_FAILED, bind_read_only, call,
                     exit_status, libc, opened, place, prctl, private_scratch, setup_failed, start_unshare)

SANDBOX_USER = 65534  # nobody: whom the program runs as when relinterp runs as root
PR_SET_CHILD_SUBREAPER = 36


def host_root() -> bool:
    """Whether this process is the host's root (user 0 of a user namespace that maps it
    to the initial namespace's user 0), whom process limits do not bind and who owns the
    kernel's files: the program must not run as that user."""
    if os.geteuid() != 0:
        return False
    with open("/proc/self/uid_map") as uid_map:
        return any(line.split()[:2] == ["0", "0"] for line in uid_map)


def hand_over(binds: list[list[str]]) -> list[list[str]]:
    """As root: bind the host paths read-only where SANDBOX_USER can reach them (in a
    mount namespace of this process's own, made by root, so that the namespaces made
    next inherit them read-only and locked so), then become that user."""
    call(libc.unshare(CLONE_NEWNS), "unshare the mount namespace")
    fds = opened(binds)
    private_scratch()
    handed = []
    for n, ((_, inside), fd) in enumerate(zip(binds, fds)):
        place(fd, f"{SCRATCH}/{n}")
        bind_read_only(f"/proc/self/fd/{fd}", f"{SCRATCH}/{n}", recursive=True)
        handed.append([f"{SCRATCH}/{n}", inside])
    os.setgroups([])
    os.setresgid(SANDBOX_USER, SANDBOX_USER, SANDBOX_USER)
    os.setresuid(SANDBOX_USER, SANDBOX_USER, SANDBOX_USER)
    # A change of user leaves the process undumpable, which gives its /proc/self files to
    # root (it could not write its own uid_map), and forgets the parent-death signal.
    prctl(PR_SET_DUMPABLE, 1, "dumpable")
    return handed


# ---------------------------------------------------------------- bwrap

def bwrap_command(spec: dict, info_fd: int, block_fd: int) -> list[str]:
    """bubblewrap making the same root; it waits on `block_fd` for the process limit to
    be set on its first process (named on `info_fd`), since RLIMIT_NPROC set before it
    makes its user namespace would count every process this user has on the host."""
    binds = [arg for host, inside in spec["binds"] for arg in ("--ro-bind", host, inside)]
    return [spec["bwrap"], "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-net", "--unshare-uts",
            "--die-with-parent", "--new-session", *binds, "--dev", "/dev", "--tmpfs", "/tmp",
            *(("--proc", "/proc") if spec["proc"] else ()), "--remount-ro", "/", "--chdir", "/tmp",
            "--info-fd", str(info_fd), "--block-fd", str(block_fd), "--", *spec["argv"]]


def start_bwrap(spec: dict) -> int:
    """bubblewrap, once the process limit is set (its pid)."""
    info_r, info_w = os.pipe()
    block_r, block_w = os.pipe()
    for fd in (info_w, block_r):
        os.set_inheritable(fd, True)
    command = bwrap_command(spec, info_w, block_r)
    pid = os.posix_spawn(command[0], command, os.environ)
    os.close(info_w)
    os.close(block_r)
    with os.fdopen(info_r) as info:
        text = info.read()
    if not text:
        return pid  # it failed, and said why
    try:
        first = json.loads(text)["child-pid"]
        resource.prlimit(first, resource.RLIMIT_NPROC, (spec["max_processes"], spec["max_processes"]))
    except (ValueError, KeyError, OSError) as error:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise OSError(0, f"bwrap: cannot limit the processes ({error})") from None
    os.write(block_w, b"1")
    os.close(block_w)
    return pid


class Stopped(Exception):
    """SIGTERM: the caller's time limit."""


def stopped(signum, frame):
    raise Stopped


def supervise(child: int) -> int:
    """Wait for `child`, then for every process that comes back to this one, until none
    is left; on SIGTERM, kill `child` first.  Both sandboxes end with their first
    process, and the kernel ends a pid namespace before its first process is reaped, so
    that when this returns nothing of the sandbox is left (bubblewrap's first process is
    its child's, which comes back here: this process is a subreaper)."""
    signal.signal(signal.SIGTERM, stopped)
    status = 128 + signal.SIGTERM
    try:
        status = exit_status(os.waitpid(child, 0)[1])
    except Stopped:
        os.kill(child, signal.SIGKILL)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return status


def die_with(parent: int) -> None:
    """SIGKILL when relinterp dies (or now, if it has already)."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "die with the parent")
    if os.getppid() != parent:
        os._exit(SETUP_FAILED)


def main(text: str) -> int:
    spec = json.loads(text)
    try:
        die_with(spec["parent"])
        prctl(PR_SET_CHILD_SUBREAPER, 1, "subreaper")
        if host_root():
            spec["binds"] = hand_over(spec["binds"])
            die_with(spec["parent"])
        child = start_bwrap(spec) if spec["method"] == "bwrap" else start_unshare(spec)
    except OSError as error:
        return setup_failed(error)
    return supervise(child)

