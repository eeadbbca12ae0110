"""The only writer: apply a RewritePlan to produce the target file, atomically.

The result is built in a temporary file in the target's directory and renamed over the
target only when complete, so the target is either untouched or fully written, and the
input is never modified in place.  Mode bits (and, where allowed, owner) are kept.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import tempfile

from .errors import WriteError
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
