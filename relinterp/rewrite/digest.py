"""The digest that proves a restored file identical to the original.

Recorded at patch time (of the input, or of the original a patched input records),
checked before `restore` or `inspect` calls a result byte-exact.  It is SHA-256 over
the SHA-256 of each BLOCK-byte block of the file, in order: as strong as SHA-256 of the
whole file, and the blocks hash in parallel, so patching a large file pays for the
digest a fraction of what one sequential pass costs; and it is hashed while the
kernel copies the file (relinterp.rewrite.write.write_patch).  bench/digest.py
measures it.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import threading
from collections.abc import Callable

from ..elf.model import Executable
from ..elf.regular import reading
from ..errors import ReadError
from .plan import RewritePlan
from .restore import plan_restore

BLOCK = 8 << 20
PIECE = 1 << 20  # read at a time


def original_digest(exe: Executable, source=None) -> bytes:
    """The digest of the file `exe` was patched from (of `exe` itself if it is not
    patched): what the restore record holds.  Read from `source` (the file `exe` was
    read from, open) when given: never from the path again, which another run may have
    replaced meanwhile."""
    source = exe.path if source is None else source
    try:
        return file_sha256(source) if exe.patch is None else plan_sha256(plan_restore(exe), source)
    except OSError as error:
        raise ReadError(exe.path, f"cannot read ({error.strerror})") from None


def start_original_digest(exe: Executable, source=None) -> Callable[[], bytes]:
    """original_digest(exe, source), computed in a thread: call the result to wait for it."""
    return _in_thread(original_digest, exe, source)


def file_sha256(source) -> bytes:
    """The digest of the file `source` (a path, or a file open).  hashlib and pread
    release the GIL, so threads hash blocks side by side; each reads its block a piece
    at a time (a mapping of the whole file would count the file in the process's
    resident size)."""
    with reading(source) as stream:
        fd, size = stream.fileno(), os.fstat(stream.fileno()).st_size
        starts = range(0, size, BLOCK)
        blocks: list[bytes] = [b""] * len(starts)
        pending = iter(range(len(starts)))  # shared: next() on it is atomic

        def hash_blocks() -> None:
            for n in pending:
                blocks[n] = _block_sha256(fd, starts[n], min(starts[n] + BLOCK, size))

        helpers = [_in_thread(hash_blocks) for _ in range(min(len(os.sched_getaffinity(0)), len(starts)) - 1)]
        hash_blocks()
        for wait in helpers:
            wait()
    return _combine(blocks)


def _block_sha256(fd: int, at: int, end: int) -> bytes:
    if _hole(fd, at, end):
        return _zeros_sha256(end - at)
    block = hashlib.sha256()
    while at < end:
        piece = os.pread(fd, min(PIECE, end - at), at)
        if not piece:
            raise OSError(errno.EIO, "the file shrank while it was read")
        block.update(piece)
        at += len(piece)
    return block.digest()


def plan_sha256(plan: RewritePlan, source) -> bytes:
    """The digest of what applying `plan` to `source` (a path, or a file open) gives,
    without writing it: for plans that only rearrange the source's bytes (a restore,
    which may put back a tail the patch moved)."""
    with reading(source) as stream:
        fd = stream.fileno()
        view = plan.result(_PositionalReader(fd))
        blocks = []
        for at in range(0, plan.size, BLOCK):
            end = min(at + BLOCK, plan.size)
            source_at = _source_of(plan, at, end)
            if source_at is not None and _hole(fd, source_at, source_at + end - at):
                blocks.append(_zeros_sha256(end - at))
            else:
                view.seek(at)
                blocks.append(hashlib.sha256(view.read(end - at)).digest())
    return _combine(blocks)


def _source_of(plan: RewritePlan, at: int, end: int) -> int | None:
    """Where in the source the result's bytes `at` to `end` are, when they are one stretch
    of it that no write changes (the kept part, or inside one copy); None otherwise."""
    if any(w.offset < end and at < w.offset + len(w.data) for w in plan.writes):
        return None
    if end <= plan.keep:
        return at
    copy = next((c for c in plan.copies if c.offset <= at and end <= c.offset + c.size), None)
    return None if copy is None else copy.source + at - copy.offset


def _hole(fd: int, at: int, end: int) -> bool:
    """Whether bytes `at` to `end` of the file are a hole (all zeros, none stored): read
    as zeros, they hash the same without being read, so a sparse file costs what its data
    does.  (lseek only answers here: nobody reads at the position it leaves.)"""
    try:
        return os.lseek(fd, at, os.SEEK_DATA) >= end
    except OSError as error:
        return error.errno == errno.ENXIO  # no data from `at` to the end of the file


@functools.lru_cache(maxsize=4)
def _zeros_sha256(size: int) -> bytes:
    return hashlib.sha256(bytes(size)).digest()


class _PositionalReader:
    """A file read with pread at a position of its own, so that a thread may read a
    file another uses at the same time."""

    def __init__(self, fd: int) -> None:
        self.fd, self.position = fd, 0

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        assert whence == os.SEEK_SET
        self.position = offset
        return offset

    def read(self, size: int) -> bytes:
        data = os.pread(self.fd, size, self.position)
        self.position += len(data)
        return data


def _combine(blocks: list[bytes]) -> bytes:
    return hashlib.sha256(b"".join(blocks)).digest()


def _in_thread(function: Callable, *args) -> Callable:
    """Start function(*args) in a thread; the callable returned waits for it and gives
    its result, or raises its exception.  (threading, not concurrent.futures, whose
    import would cost every `relinterp patch` several milliseconds.)"""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append((True, function(*args)))
        except BaseException as error:
            outcome.append((False, error))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def wait():
        thread.join()
        done, value = outcome[0]
        if not done:
            raise value
        return value
    return wait
