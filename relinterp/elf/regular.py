"""Opening the files relinterp reads: regular files only, and never a wait.

A FIFO (or a device) named as a program, a loader or a library, or met in a tree,
would block `open` until a writer came, and `read` after that; a directory would fail
later with a less useful reason.  O_NONBLOCK makes the open return at once and fstat
says what the file is; for a regular file O_NONBLOCK changes nothing."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which costs `relinterp patch` the import of typing
if TYPE_CHECKING:
    from typing import BinaryIO


class NotRegularFileError(OSError):
    """The path names something other than a regular file (`strerror` says so)."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.EINVAL, "not a regular file", path)


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """The regular file at `path`, opened for reading; OSError otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):  # as open() says it, so that every command words it alike
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(path))
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(os.fspath(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def reading(source):
    """`source` to read: itself when it is a file already open (it stays open), else the
    regular file at that path (open_regular).  A run that reads one file several times
    (its model, its bytes, their digest) opens it once and passes the file on, so that
    all of it comes from the same file, whatever replaces the path meanwhile."""
    if isinstance(source, (str, os.PathLike)):
        with open_regular(source) as stream:
            yield stream
    else:
        yield source
