"""The release tree `relinterp bundle` builds: staged in a directory beside the target,
then swapped in whole, so the target is either the old tree or the new one, never a mix.
(The files in it are written by relinterp.rewrite.write.)

A staging directory, and a temporary archive, is named `.NAME.XXXXXXXX.relinterp` and is
locked (flock) by the run making it for as long as the run lives.  One left by a run that
was killed is unlocked: the next run making the same NAME removes it, and never one a
live run holds.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import stat
import tempfile

from ..errors import WriteError
from ..rewrite.atomic import STAGING_SUFFIX, not_a_file, signals_held

STDOUT = "-"
STREAMS = ("FIFO", "character device")  # written through: what their reader or driver gets
AT_FDCWD = -100
RENAME_EXCHANGE = 2  # linux/fs.h: swap two paths atomically (Linux 3.15)
_held: dict[str, int] = {}  # staging directory -> the descriptor its lock is on


def make_staging_dir(target: str) -> str:
    """A new, locked staging directory beside `target`, after removing those that runs
    killed while making `target` left behind."""
    parent = os.path.dirname(os.path.abspath(target))
    try:
        os.makedirs(parent, exist_ok=True)
        remove_abandoned(target)
        fd = None
        while fd is None:
            with signals_held():  # a stopped run must know the name to remove it
                staging = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.", suffix=STAGING_SUFFIX,
                                           dir=parent)
                fd = _locked(staging, os.O_RDONLY | os.O_DIRECTORY)
                if fd is not None:
                    _held[staging] = fd
        os.chmod(staging, 0o755)  # mkdtemp makes it private; the tree is for everyone
    except OSError as error:
        raise WriteError(target, f"cannot write ({error.strerror})") from None
    return staging


def _locked(path: str, flags: int) -> int | None:
    """A descriptor of `path` holding its lock, waiting for it; None when the path went
    away meanwhile (another run found it unlocked, just made, and removed it)."""
    try:
        fd = os.open(path, flags | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        if os.path.samestat(os.fstat(fd), os.lstat(path)):
            return fd
    except FileNotFoundError:
        pass
    os.close(fd)
    return None


def remove_abandoned(target: str) -> None:
    """Remove the staging directories and temporary files named for `target` that no
    live run holds (their lock is free)."""
    parent, base = os.path.split(os.path.abspath(target))
    ours = re.compile(re.escape(f".{base}.") + r"[A-Za-z0-9_]{8}" + re.escape(STAGING_SUFFIX) + "$")
    for name in os.listdir(parent):
        if not ours.match(name):
            continue
        path = os.path.join(parent, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.path.isdir(path) and not os.path.islink(path):
                remove_tree(path)
            else:
                os.unlink(path)
        except OSError:
            pass  # held by a live run, or removed by another one meanwhile
        finally:
            os.close(fd)


def make_symlink(link_text: str, target: str) -> None:
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.symlink(link_text, target)


def commit_tree(staging: str, target: str) -> bool:
    """Put the staged tree at `target`; True when it replaced an existing one.

    Where the file system cannot swap two directories (no RENAME_EXCHANGE), the old tree
    is renamed aside, then the new one into its place: between the two renames `target`
    does not exist, and a run killed there leaves the old tree aside, unlocked, under a
    staging name (the next run removes it)."""
    if not os.path.lexists(target):
        os.rename(staging, target)
        _release(staging)
        return False
    if _exchange(staging, target):
        aside = staging  # now holds the previous tree
    else:
        aside = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.", suffix=STAGING_SUFFIX,
                                 dir=os.path.dirname(staging))
        os.rename(target, aside)  # over the empty directory
        os.rename(staging, target)
    _release(staging)
    remove_tree(aside)
    return True


def discard_tree(staging: str) -> None:
    remove_tree(staging)
    _release(staging)


def remove_tree(path: str) -> None:
    """shutil.rmtree(ignore_errors=True), also through the directories a tree mirrors
    without write permission (which would stop a user who is not root)."""
    for directory, dirs, _ in os.walk(path):
        for name in dirs:
            full = os.path.join(directory, name)
            try:
                info = os.lstat(full)
                if stat.S_ISDIR(info.st_mode) and info.st_mode & 0o700 != 0o700:
                    os.chmod(full, 0o700)
            except OSError:
                pass  # what cannot be changed stays, as rmtree leaves it
    shutil.rmtree(path, ignore_errors=True)


def _release(staging: str) -> None:
    fd = _held.pop(staging, None)
    if fd is not None:
        os.close(fd)


def write_new_file(target: str, produce, mode: int = 0o644) -> None:
    """Write `target` atomically: `produce(stream)` fills a temporary file beside it,
    locked while it is written, which is renamed over `target` only once complete."""
    directory = os.path.dirname(os.path.abspath(target))
    try:
        remove_abandoned(target)
        with signals_held():
            fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=STAGING_SUFFIX,
                                        dir=directory)
        fcntl.flock(fd, fcntl.LOCK_EX)  # nobody else has it yet
    except OSError as error:
        raise WriteError(target, f"cannot write ({error.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as stream:
            produce(stream)
            os.fchmod(stream.fileno(), mode)
            with signals_held():
                os.replace(temp, target)
                temp = None
    except BaseException as error:
        if temp is not None:
            os.unlink(temp)
        if isinstance(error, OSError):
            raise WriteError(target, f"cannot write ({error.strerror})") from None
        raise


def is_stdout(target: str) -> bool:
    """`-`, or a name of this process's stdout (/dev/stdout, /proc/self/fd/1)."""
    try:
        return target == STDOUT or os.path.samestat(os.stat(target), os.fstat(1))
    except OSError:
        return False


def output_file(target: str, what: str = "the archive") -> str | None:
    """Where a file for `target` goes: the file a symlink names (not over the link), or
    `target`; None when the output is written through instead: stdout, a FIFO or a
    character device (a pipe, a terminal, /dev/null).  Any other non-file is refused."""
    if is_stdout(target):
        return None
    kind = not_a_file(target)
    if kind in STREAMS:
        return None
    if kind is not None:
        raise WriteError(target, f"is a {kind}: {what} goes to a file, a FIFO or a character device, so "
                                 "nothing was written")
    return os.path.realpath(target) if os.path.islink(target) and os.path.exists(target) else target


def write_through(target: str, produce) -> None:
    """`produce(stream)` writing into stdout, a FIFO or a character device as it is."""
    try:
        fd = os.dup(1) if is_stdout(target) else os.open(target, os.O_WRONLY | os.O_CLOEXEC)
        with os.fdopen(fd, "wb") as stream:
            produce(stream)
    except OSError as error:
        raise WriteError(target, f"cannot write ({error.strerror})") from None


def write_output(target: str, file: str | None, produce) -> None:
    """Into `file` (output_file's answer for `target`) atomically; None: through to `target` as it is."""
    if file is None:
        write_through(target, produce)
    else:
        write_new_file(file, produce)


def _exchange(a: str, b: str) -> bool:
    """renameat2(RENAME_EXCHANGE); False where the C library or file system lacks it."""
    import ctypes  # only here: `relinterp patch` never needs it

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    if ctypes.get_errno() in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), b)
