"""Replacing a file atomically and keeping what it was: the new version is made beside
it, unnamed where the system allows, given the old one's owner, group and mode, and
renamed over it only once complete.

A crash leaves the old file, and with O_TMPFILE nothing else; a file left by a run
killed where O_TMPFILE cannot be used is named `.NAME.XXXXXXXX.relinterp` (walks skip
such names: relinterp.batch).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat

from ..errors import WriteError

STAGING_SUFFIX = ".relinterp"  # names of temporary files and trees: .NAME.XXXXXXXX.relinterp
PROC_FDS = "/proc/self/fd"
CAPABILITY = "security.capability"  # file capabilities: not kept (keep_extended_attributes)


class TempFile:
    """A new file in the target's directory, renamed over the target once complete.

    Unnamed (O_TMPFILE) where the file system allows and /proc is there to link it by,
    so that a crash leaves nothing behind; it gets a name, `.NAME.XXXXXXXX.relinterp`,
    only for the rename.  Elsewhere it is made with that name from the start."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.directory = os.path.dirname(os.path.abspath(target))
        self.name: str | None = None
        try:
            self.fd = self._unnamed()
            if self.fd < 0:
                with signals_held():
                    self.name, self.fd = create_beside(target, lambda temp: os.open(
                        temp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        except OSError as error:
            raise WriteError(target, f"cannot write ({error.strerror})") from None

    def _unnamed(self) -> int:
        if not os.path.isdir(PROC_FDS):
            return -1
        try:
            return os.open(self.directory, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
        except OSError as error:
            if error.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                return -1
            raise

    def commit(self) -> None:
        with signals_held():  # between the link and the rename, a stopped run would leave the name
            if self.name is None:
                self.name = self._link()
            os.replace(self.name, self.target)
            self.name = None

    def _link(self) -> str:
        """Give the unnamed file a name beside the target (linkat through /proc)."""
        directory = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:  # a directory fd makes os.link use linkat, which follows the /proc link
            return create_beside(self.target, lambda temp: os.link(f"{PROC_FDS}/{self.fd}", os.path.basename(temp),
                                                                    dst_dir_fd=directory))[0]
        finally:
            os.close(directory)

    def close(self) -> None:
        os.close(self.fd)
        if self.name is not None:
            try:
                os.unlink(self.name)
            except FileNotFoundError:
                pass


@contextlib.contextmanager
def signals_held():
    """The signals that stop a run (relinterp.interrupts) wait until the block is done:
    for steps after which a name must be recorded to be removed again.  (The process
    has no other thread then, which could take the signal meanwhile.)"""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def create_beside(target: str, make):
    """`make(temp)` with a fresh temporary name beside `target`, another name while it
    is taken: (the name, what `make` returned)."""
    while True:
        temp = _temporary_name(target)
        try:
            return temp, make(temp)
        except FileExistsError:
            continue


NOT_FILES = ((stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"), (stat.S_ISFIFO, "FIFO"),
             (stat.S_ISSOCK, "socket"), (stat.S_ISDIR, "directory"))


def not_a_file(path: str) -> str | None:
    """What `path` names (a symlink followed) when that exists and is not a regular file:
    "character device", "FIFO", ...; None otherwise.  Such an output is never replaced
    by a file: /dev/null, or a FIFO someone reads, would be lost."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return next((kind for test, kind in NOT_FILES if test(mode)), None)


def same_file(info: os.stat_result, target: str) -> bool:
    try:
        return os.path.samestat(info, os.stat(target))
    except FileNotFoundError:
        return False


def keep_owner_and_mode(fd: int, info: os.stat_result, target: str, *, in_place: bool) -> None:
    """Owner and group first: chown clears the setuid and setgid bits, so the mode
    comes after.  In place they must all be kept, or nothing is written; a copy
    elsewhere (-o) belongs to whoever makes it when the owner cannot be kept."""
    if (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.fchown(fd, info.st_uid, info.st_gid)
        except PermissionError:
            if in_place:
                raise WriteError(target, f"cannot keep its owner and group ({info.st_uid}:{info.st_gid}) as user "
                                         f"{os.geteuid()}: only root can give a file away, and a group only to a "
                                         "member; nothing written") from None
    mode = stat.S_IMODE(info.st_mode)
    os.fchmod(fd, mode)
    kept = stat.S_IMODE(os.fstat(fd).st_mode)
    if in_place and kept != mode:  # chmod drops setgid silently for a group one is not in
        raise WriteError(target, f"cannot keep its mode {mode:04o} as user {os.geteuid()} (it would be "
                                 f"{kept:04o}); nothing written")


def keep_extended_attributes(fd: int, source: str, target: str, *, in_place: bool) -> None:
    """The source's extended attributes on the new file: user.* ones, POSIX ACLs
    (system.posix_acl_access, which holds the mode's group bits as its mask, consistent
    with the mode set before), SELinux labels, as strip and patchelf keep them.  Not
    security.capability: a write to a file drops it too (the kernel's file_remove_privs),
    and capabilities are set after patching (docs/usage.md).  In place every one must
    be kept, or nothing is written; a copy elsewhere (-o) gets what its file system takes."""
    try:
        names = os.listxattr(source)
    except OSError as error:
        if error.errno in (errno.ENOTSUP, errno.ENOSYS):
            return
        raise
    for name in names:
        if name == CAPABILITY:
            continue
        try:
            os.setxattr(fd, name, os.getxattr(source, name))
        except OSError as error:
            if in_place:
                raise WriteError(target, f"cannot keep its extended attribute {name} ({error.strerror}); "
                                         "nothing written") from None


def _temporary_name(path: str) -> str:
    """A name beside `path` for its next version (hidden, marked as relinterp's)."""
    directory, base = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{base}.{os.urandom(4).hex()}{STAGING_SUFFIX}")


def relink(existing: str, name: str) -> None:
    """Make `name` another hard link to `existing`, atomically: a new link made beside
    `name`, then renamed over it.  Used after rewriting a file that had other names."""
    with signals_held():  # a stopped run would leave the temporary name
        try:
            temp, _ = create_beside(name, lambda temp: os.link(existing, temp))
        except OSError as error:
            raise WriteError(name, f"cannot link to {existing} ({error.strerror})") from None
        try:
            os.replace(temp, name)
        except OSError as error:
            os.unlink(temp)
            raise WriteError(name, f"cannot link to {existing} ({error.strerror})") from None
