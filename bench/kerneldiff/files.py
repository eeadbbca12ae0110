"""The loader file of a case, made at the path both programs name: a regular file with
its bytes, mode and owner, or a FIFO, a socket, a directory, a character device, a
block device holding the loader's bytes (a loop device, detached by the kernel when the
case closes it), a symbolic link to itself; and the writer that holds it open."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import stat
import struct
from pathlib import Path

from .case import Case

LOOP_CONTROL = Path("/dev/loop-control")
LOOP_CTL_GET_FREE, LOOP_CONFIGURE = 0x4C82, 0x4C0A
LO_FLAGS_READ_ONLY, LO_FLAGS_AUTOCLEAR = 1, 4


def clear(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


@contextlib.contextmanager
def loop_device(backing: Path):
    """A read-only loop device of `backing`, as (major, minor): set to clear itself when
    its last descriptor closes, so that nothing is left behind whatever happens here."""
    control = os.open(LOOP_CONTROL, os.O_RDWR | os.O_CLOEXEC)
    try:
        for _ in range(8):  # another process may take the free one first
            number = fcntl.ioctl(control, LOOP_CTL_GET_FREE)
            device = os.open(f"/dev/loop{number}", os.O_RDONLY | os.O_CLOEXEC)
            source = os.open(backing, os.O_RDONLY | os.O_CLOEXEC)
            info = bytearray(232)  # struct loop_info64
            struct.pack_into("<I", info, 52, LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR)  # lo_flags
            config = struct.pack("<II", source, 0) + bytes(info) + bytes(64)
            try:
                fcntl.ioctl(device, LOOP_CONFIGURE, config)
            except OSError:
                os.close(device)
                continue
            finally:
                os.close(source)
            try:
                yield os.major(os.fstat(device).st_rdev), os.minor(os.fstat(device).st_rdev)
            finally:
                os.close(device)
            return
        raise OSError("no free loop device")
    finally:
        os.close(control)


@contextlib.contextmanager
def loader_file(case: Case, path: Path, scratch: Path):
    """The case's loader at `path` for as long as the context lasts."""
    clear(path)
    with contextlib.ExitStack() as stack:
        if case.kind == "regular":
            path.write_bytes(case.data)
            os.chown(path, case.owner, case.group)
            os.chmod(path, case.mode)
            if case.writer:
                stack.callback(os.close, os.open(path, os.O_WRONLY | os.O_CLOEXEC))
        elif case.kind == "fifo":
            os.mkfifo(path, 0o755)
        elif case.kind == "socket":
            with socket.socket(socket.AF_UNIX) as listener:
                listener.bind(str(path))
            os.chmod(path, 0o755)
        elif case.kind == "directory":
            path.mkdir(mode=0o755)
        elif case.kind == "char-device":
            os.mknod(path, stat.S_IFCHR | 0o755, os.makedev(1, 3))
        elif case.kind == "block-device":
            scratch.write_bytes(case.data)
            # Without loop devices, the node of one that is not there (ENXIO on opening).
            major, minor = stack.enter_context(loop_device(scratch)) if LOOP_CONTROL.exists() else (7, 255)
            os.mknod(path, stat.S_IFBLK | 0o755, os.makedev(major, minor))
        elif case.kind == "symlink-loop":
            os.symlink(path.name, path)
        yield
