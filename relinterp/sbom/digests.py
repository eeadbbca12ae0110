"""The SHA-256 of files, each read once, optionally in a thread of its own while the caller
goes on (hashlib releases the interpreter lock while it hashes), so that a tree's files
are hashed as they are written rather than after.
"""

from __future__ import annotations

import hashlib
import queue
import threading

from ..elf.regular import open_regular

CHUNK = 1 << 20


def sha256_of(path: str) -> str:
    """The SHA-256 of a regular file (OSError for anything else: never a wait on a FIFO)."""
    digest = hashlib.sha256()
    with open_regular(path) as stream:
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                return digest.hexdigest()
            digest.update(chunk)


class Digests:
    """Digests by path: `add` queues a file for the thread, `of` gives one (computing it
    if it was not queued)."""

    def __init__(self) -> None:
        self.known: dict[str, str] = {}
        self.failed: dict[str, OSError] = {}
        self.pending: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.cancelled = False

    def add(self, path: str) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._work, name="relinterp-digests", daemon=True)
            self.thread.start()
        self.pending.put(path)

    def of(self, path: str) -> str:
        self.finish()
        if path in self.failed:
            raise self.failed.pop(path)
        if path not in self.known:
            self.known[path] = sha256_of(path)
        return self.known[path]

    def finish(self, cancel: bool = False) -> None:
        """Wait for the files queued so far (with `cancel`, only for the one being hashed:
        the digests are not needed); the thread ends."""
        self.cancelled = self.cancelled or cancel
        if self.thread is not None:
            self.pending.put(None)
            self.thread.join()
            self.thread = None

    def _work(self) -> None:
        while True:
            path = self.pending.get()
            if path is None:
                return
            if self.cancelled:
                continue
            try:
                self.known[path] = sha256_of(path)
            except OSError as error:  # raised where the digest is asked for
                self.failed[path] = error
