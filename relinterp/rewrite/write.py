"""The only writer: apply a RewritePlan to produce the target file, atomically; and the
file-system operations `relinterp bundle` builds its tree with.

The result is built in a temporary file in the target's directory and renamed over the
target only when complete, so the target is either untouched or fully written, and the
input is never modified in place.  Mode bits (and, where allowed, owner) are kept.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
import tempfile

from ..errors import WriteError
from .plan import RewritePlan

COPY_CHUNK = 1 << 20


def apply_plan(plan: RewritePlan, source: str, target: str) -> None:
    info = os.stat(source)
    directory = os.path.dirname(os.path.abspath(target))
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".relinterp", dir=directory)
    except OSError as error:
        raise WriteError(target, f"cannot write ({error.strerror})") from None
    try:
        with open(source, "rb") as src:
            _copy_prefix(src.fileno(), fd, plan.keep)
        for write in plan.writes:
            _pwrite_all(fd, write.data, write.offset)
        os.ftruncate(fd, plan.size)
        os.fchmod(fd, stat.S_IMODE(info.st_mode))
        _keep_owner(fd, info)
        os.close(fd)
        fd = -1
        os.replace(temp, target)
    except OSError as error:
        if fd >= 0:
            os.close(fd)
        os.unlink(temp)
        raise WriteError(target, f"cannot write ({error.strerror})") from None


def _copy_prefix(src: int, dst: int, size: int) -> None:
    """Copy the first `size` bytes in the kernel (copy_file_range: may share extents)."""
    done = 0
    try:
        while done < size:
            n = os.copy_file_range(src, dst, size - done, done, done)
            if n == 0:
                raise OSError(errno.EIO, "source file shrank while copying")
            done += n
        return
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    while done < size:
        chunk = os.pread(src, min(COPY_CHUNK, size - done), done)
        if not chunk:
            raise OSError(errno.EIO, "source file shrank while copying")
        _pwrite_all(dst, chunk, done)
        done += len(chunk)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def _keep_owner(fd: int, info: os.stat_result) -> None:
    if (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.fchown(fd, info.st_uid, info.st_gid)
        except PermissionError:
            pass  # not ours to give away; the file keeps its content and mode


def relink(existing: str, name: str) -> None:
    """Make `name` another hard link to `existing`, atomically: a new link made beside
    `name`, then renamed over it.  Used after rewriting a file that had other names."""
    directory, base = os.path.split(os.path.abspath(name))
    while True:
        temp = os.path.join(directory, f".{base}.{secrets.token_hex(4)}.relinterp")
        try:
            os.link(existing, temp)
            break
        except FileExistsError:
            continue
        except OSError as error:
            raise WriteError(name, f"cannot link to {existing} ({error.strerror})") from None
    try:
        os.replace(temp, name)
    except OSError as error:
        os.unlink(temp)
        raise WriteError(name, f"cannot link to {existing} ({error.strerror})") from None


# ---------------------------------------------------------------- directory trees
# `relinterp bundle` builds its tree in a staging directory beside the target, then
# swaps it in whole: the target is either the old tree or the new one, never a mix.

STAGING_SUFFIX = ".relinterp"
AT_FDCWD = -100
RENAME_EXCHANGE = 2  # linux/fs.h: swap two paths atomically (Linux 3.15)


def make_staging_dir(target: str) -> str:
    parent = os.path.dirname(os.path.abspath(target))
    try:
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.", suffix=STAGING_SUFFIX, dir=parent)
        os.chmod(staging, 0o755)  # mkdtemp makes it private; the tree is for everyone
    except OSError as error:
        raise WriteError(target, f"cannot write ({error.strerror})") from None
    return staging


def copy_file(source: str, target: str, mode: int) -> None:
    """A new file `target` with `source`'s bytes (in the kernel where it can) and `mode`."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(source, "rb") as src:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            _copy_prefix(src.fileno(), fd, os.fstat(src.fileno()).st_size)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)


def make_symlink(link_text: str, target: str) -> None:
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.symlink(link_text, target)


def commit_tree(staging: str, target: str) -> bool:
    """Put the staged tree at `target`; True when it replaced an existing one."""
    if not os.path.lexists(target):
        os.rename(staging, target)
        return False
    if not _exchange(staging, target):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.old.", dir=os.path.dirname(staging))
        os.rename(target, os.path.join(old, "tree"))
        os.rename(staging, target)
        staging = old
    shutil.rmtree(staging)  # now holds the previous tree
    return True


def discard_tree(staging: str) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def write_new_file(target: str, produce, mode: int = 0o644) -> None:
    """Write `target` atomically: `produce(stream)` fills a temporary file beside it,
    which is renamed over `target` only once complete."""
    directory = os.path.dirname(os.path.abspath(target))
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=STAGING_SUFFIX, dir=directory)
    except OSError as error:
        raise WriteError(target, f"cannot write ({error.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as stream:
            produce(stream)
            os.fchmod(stream.fileno(), mode)
        os.replace(temp, target)
    except BaseException as error:
        os.unlink(temp)
        if isinstance(error, OSError):
            raise WriteError(target, f"cannot write ({error.strerror})") from None
        raise


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
