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
import hashlib
import os
import threading
from collections.abc import Callable

from ..elf.model import Executable
from ..errors import ReadError
from .plan import RewritePlan
from .restore import plan_restore

BLOCK = 8 << 20
PIECE = 1 << 20  # read at a time


def original_digest(exe: Executable) -> bytes:
    """The digest of the file `exe` was patched from (of `exe` itself if it is not
    patched): what the restore record holds."""
    try:
        return file_sha256(exe.path) if exe.patch is None else plan_sha256(plan_restore(exe), exe.path)
    except OSError as error:
        raise ReadError(exe.path, f"cannot read ({error.strerror})") from None


def start_original_digest(exe: Executable) -> Callable[[], bytes]:
    """original_digest(exe), computed in a thread: call the result to wait for it."""
    return _in_thread(original_digest, exe)


def file_sha256(path: str) -> bytes:
    """The digest of the file at `path`.  hashlib and pread release the GIL, so threads
    hash blocks side by side; each reads its block a piece at a time (a mapping of the
    whole file would count the file in the process's resident size)."""
    with open(path, "rb") as stream:
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
    block = hashlib.sha256()
    while at < end:
        piece = os.pread(fd, min(PIECE, end - at), at)
        if not piece:
            raise OSError(errno.EIO, "the file shrank while it was read")
        block.update(piece)
        at += len(piece)
    return block.digest()


def plan_sha256(plan: RewritePlan, source: str) -> bytes:
    """The digest of what applying `plan` to `source` gives, without writing it: for
    plans that only rearrange the source's bytes (a restore)."""
    with open(source, "rb") as stream:
        view = plan.result(stream)
        blocks = []
        while block := view.read(BLOCK):
            blocks.append(hashlib.sha256(block).digest())
    return _combine(blocks)


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
