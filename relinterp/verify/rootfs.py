"""The `unshare` empty root: made by this process itself with unshare(2), mount(2) and
pivot_root(2), in new user, mount, pid, ipc, uts and net namespaces
(relinterp.verify.emptyroot runs it; docs/bundle-and-verify.md says what it holds).

Only the standard library: it is imported, as all of relinterp.verify.emptyroot is,
before the host's file system goes away and before the process becomes a user that may
not be able to read relinterp's files.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import select
import signal

SETUP_FAILED = 125
# A directory of the host to mount a tmpfs on, in a mount namespace of this process's
# own: the root is built there, and as root the binds are first handed over there.
SCRATCH = "/tmp"
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE = \
    1, 2, 4, 8, 32, 1024, 2048, 4096, 16384, 1 << 18
# A remount must repeat these flags of a mount made elsewhere, which are locked once
# inherited into a less privileged user namespace (mount_namespaces(7)); statvfs reports
# them with the same values (ST_NOATIME = MS_NOATIME, ...).  Not relatime: a remount
# keeps it by itself, and statvfs's ST_RELATIME (4096) is MS_BIND to mount(2).
KEPT_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME
MNT_DETACH = 2
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = \
    0x20000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 4, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL, CAPABILITY_VERSION_3 = 4, 0x20080522
# glibc has no pivot_root(): the system call by number (asm/unistd.h of each architecture).
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "loongarch64": 41, "i386": 217, "i686": 217,
              "s390x": 217, "armv7l": 218, "armv8l": 218, "ppc64le": 203, "ppc64": 203}
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
# As bubblewrap does: the parts of /proc that reach the host's kernel, read-only.
PROC_COVERED = ("sys", "sysrq-trigger", "irq", "bus")

libc = ctypes.CDLL(None, use_errno=True)


def call(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def prctl(option: int, value: int, what: str) -> None:
    call(libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), what)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def encode(text):
        return None if text is None else os.fsencode(text)
    call(libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)),
         f"mount {target}")


def bind_read_only(source: str, target: str, recursive: bool = False) -> None:
    mount(source, target, None, MS_BIND | (MS_REC if recursive else 0))
    kept = os.statvfs(target).f_flag & KEPT_FLAGS
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | kept)


def private_scratch() -> None:
    """A tmpfs at SCRATCH that nothing shares: this mount namespace must be new."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", SCRATCH, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755")


def opened(binds: list[list[str]]) -> list[int]:
    """The host paths of the binds, opened here, before SCRATCH covers what they name."""
    return [os.open(host, os.O_PATH | os.O_CLOEXEC) for host, _ in binds]


def place(fd: int, target: str) -> None:
    """An empty directory or file at `target` to bind the file open as `fd` on."""
    if os.path.isdir(f"/proc/self/fd/{fd}"):
        os.mkdir(target)
    else:
        open(target, "w").close()


def unshare() -> None:
    """New namespaces, this user and group mapped to themselves (as bubblewrap does); this
    process has every capability there, and there only, until it drops them."""
    uid, gid = os.getuid(), os.getgid()
    call(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET),
         "unshare")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as map_file:
            map_file.write(text)


def build_root(root: str, binds: list[list[str]], proc: bool) -> None:
    """The binds read-only, a few devices, the sandbox's own /proc with its kernel-wide
    parts read-only, a private /tmp; the rest read-only and empty."""
    fds = opened(binds)
    private_scratch()
    for name in ("dev", "proc", "tmp"):
        os.mkdir(f"{root}/{name}")
    for (_, inside), fd in zip(binds, fds):
        os.makedirs(os.path.dirname(root + inside), exist_ok=True)
        place(fd, root + inside)
        bind_read_only(f"/proc/self/fd/{fd}", root + inside)
        os.close(fd)
    mount("tmpfs", f"{root}/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755")
    for name in DEVICES:
        open(f"{root}/dev/{name}", "w").close()
        mount(f"/dev/{name}", f"{root}/dev/{name}", None, MS_BIND)
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{fd}", f"{root}/dev/{name}")
    os.symlink("/proc/self/fd", f"{root}/dev/fd")
    if proc:
        mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        for name in PROC_COVERED:
            if os.path.exists(f"{root}/proc/{name}"):
                bind_read_only(f"{root}/proc/{name}", f"{root}/proc/{name}")
    mount("tmpfs", f"{root}/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    mount(None, root, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def enter_root(root: str) -> None:
    """Make `root` the root of this mount namespace and detach the old one, so that no
    path (not `..` from a chroot made inside) leads back to the host's files."""
    number = PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        raise OSError(errno.ENOSYS, f"pivot_root: no system call number known for {os.uname().machine}")
    os.chdir(root)
    call(libc.syscall(ctypes.c_long(number), b".", b"."), "pivot_root")
    call(libc.umount2(b".", MNT_DETACH), "detach the old root")
    os.chdir("/")


class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_privileges(max_processes: int, last_capability: int) -> None:
    """At most `max_processes` processes and threads; no_new_privs; every capability
    gone, from the bounding set too, so that no exec gives one back."""
    resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))
    prctl(PR_SET_NO_NEW_PRIVS, 1, "no_new_privs")
    for capability in range(last_capability + 1):
        prctl(PR_CAPBSET_DROP, capability, f"drop capability {capability}")
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)  # EINVAL before Linux 4.3: none to clear
    call(libc.capset(ctypes.byref(CapHeader(CAPABILITY_VERSION_3, 0)), (CapData * 2)()), "capset")


def run_as_init(argv: list[str]) -> int:
    """Start the program; once it has ended, end too, which ends every process left in
    the namespace (as bubblewrap does); give the program's exit status (128 + N when
    signal N ended it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    program = os.fork()
    if program == 0:
        for number in (signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ):  # as a shell would give them
            signal.signal(number, signal.SIG_DFL)
        try:
            os.execve(argv[0], argv, os.environ)
        except OSError as error:
            os.write(2, f"{argv[0]}: cannot run it ({error.strerror})\n".encode())
        finally:
            os._exit(127)
    while True:  # pid 1 reaps what is left to it until then
        pid, waited = os.wait()
        if pid == program:
            return exit_status(waited)


def exit_status(waited: int) -> int:
    return 128 + os.WTERMSIG(waited) if os.WIFSIGNALED(waited) else os.WEXITSTATUS(waited)


def in_namespaces(spec: dict, last_capability: int, parent_alive: int) -> int:
    """The first process of the new pid namespace: the root, then the program (nothing,
    for a check).  It dies with its parent, which holds the other end of `parent_alive`
    (getppid() says 0 here: the parent is outside the namespace)."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "die with the parent")
    if select.select([parent_alive], [], [], 0)[0]:
        return SETUP_FAILED  # end of file: the parent died before the line above
    os.close(parent_alive)
    os.setsid()  # a session and process group of the sandbox's own, with no terminal
    try:
        build_root(SCRATCH, spec["binds"], spec["proc"])
        enter_root(SCRATCH)
        drop_privileges(spec["max_processes"], last_capability)
    except OSError as error:
        return setup_failed(error)
    return 0 if spec["check"] else run_as_init(spec["argv"])


def start_unshare(spec: dict) -> int:
    """The namespaces, and their first process (its pid)."""
    with open("/proc/sys/kernel/cap_last_cap") as text:
        last_capability = int(text.read())
    unshare()
    alive, keep = os.pipe()  # the parent never writes to `keep`; it is closed when it dies
    first = os.fork()  # pid 1 of the new pid namespace
    if first == 0:
        status = SETUP_FAILED
        try:
            os.close(keep)
            status = in_namespaces(spec, last_capability, alive)
        finally:
            os._exit(status)
    os.close(alive)
    return first


def setup_failed(error: OSError) -> int:
    os.write(2, f"relinterp: cannot make the empty root ({error.strerror})\n".encode())
    return SETUP_FAILED
