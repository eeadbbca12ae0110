"""The release tree `relinterp bundle` builds: staged in a directory beside the target,
then swapped in whole, so the target is either the old tree or the new one, never a mix.
(The files in it are written by relinterp.rewrite.write.)
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile

from ..errors import WriteError
from ..rewrite.atomic import STAGING_SUFFIX

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
    remove_tree(staging)  # now holds the previous tree
    return True


def discard_tree(staging: str) -> None:
    remove_tree(staging, ignore_errors=True)


def remove_tree(path: str, ignore_errors: bool = False) -> None:
    """shutil.rmtree, also through directories a tree mirrored without write permission."""
    for directory, dirs, _ in os.walk(path):
        for name in dirs:
            full = os.path.join(directory, name)
            try:
                info = os.lstat(full)
                if stat.S_ISDIR(info.st_mode) and info.st_mode & 0o700 != 0o700:
                    os.chmod(full, 0o700)
            except OSError:
                pass  # rmtree says what it cannot remove
    shutil.rmtree(path, ignore_errors=ignore_errors)


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
