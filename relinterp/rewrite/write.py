"""The only writer: apply a RewritePlan to produce the target file, atomically; and the
file-system operations `relinterp bundle` builds its tree with.

The result is built in a temporary file in the target's directory and renamed over the
target only when complete, so the target is either untouched or fully written, and the
input is never modified in place.  Owner, group and mode (setuid and setgid included)
are kept, or nothing is written.
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
STAGING_SUFFIX = ".relinterp"  # names of temporary files and trees: .NAME.XXXXXXXX.relinterp
PROC_FDS = "/proc/self/fd"


def apply_plan(plan: RewritePlan, source: str, target: str) -> None:
    info = os.stat(source)
    temp = TempFile(target)
    try:
        with open(source, "rb") as src:
            _copy_prefix(src.fileno(), temp.fd, plan.keep)
        for write in plan.writes:
            _pwrite_all(temp.fd, write.data, write.offset)
        os.ftruncate(temp.fd, plan.size)
        _keep_owner_and_mode(temp.fd, info, target, in_place=_same_file(info, target))
        temp.commit()
    except OSError as error:
        raise WriteError(target, f"cannot write ({error.strerror})") from None
    finally:
        temp.close()


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
                self.fd, self.name = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.",
                                                      suffix=STAGING_SUFFIX, dir=self.directory)
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
        if self.name is None:
            self.name = self._link()
        os.replace(self.name, self.target)
        self.name = None

    def _link(self) -> str:
        """Give the unnamed file a name beside the target (linkat through /proc)."""
        directory = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:  # a directory fd makes os.link use linkat, which follows the /proc link
            return link_beside(self.target, lambda temp: os.link(f"{PROC_FDS}/{self.fd}", os.path.basename(temp),
                                                                  dst_dir_fd=directory))
        finally:
            os.close(directory)

    def close(self) -> None:
        os.close(self.fd)
        if self.name is not None:
            try:
                os.unlink(self.name)
            except FileNotFoundError:
                pass


def link_beside(target: str, make_link) -> str:
    """`make_link(temp)` with a fresh temporary name beside `target`; that name."""
    directory, base = os.path.split(os.path.abspath(target))
    while True:
        temp = os.path.join(directory, f".{base}.{secrets.token_hex(4)}{STAGING_SUFFIX}")
        try:
            make_link(temp)
            return temp
        except FileExistsError:
            continue


def _same_file(info: os.stat_result, target: str) -> bool:
    try:
        return os.path.samestat(info, os.stat(target))
    except FileNotFoundError:
        return False


def _keep_owner_and_mode(fd: int, info: os.stat_result, target: str, *, in_place: bool) -> None:
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


def relink(existing: str, name: str) -> None:
    """Make `name` another hard link to `existing`, atomically: a new link made beside
    `name`, then renamed over it.  Used after rewriting a file that had other names."""
    try:
        temp = link_beside(name, lambda temp: os.link(existing, temp))
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
