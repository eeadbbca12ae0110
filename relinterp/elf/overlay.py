"""A file seen with some of its bytes replaced, without copying it."""

from __future__ import annotations

import os


class OverlayView:
    """A read-only file object over `stream`: cut at `size`, with `overlays` (offset ->
    bytes) laid over what is there.  A patched file seen through its recorded size and
    original headers is the file as it was before patching."""

    def __init__(self, stream, size: int, overlays: dict[int, bytes]) -> None:
        self._stream = stream
        self._size = size
        self._overlays = overlays
        self._pos = 0

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:
        end = self._size if n < 0 else min(self._size, self._pos + n)
        if end <= self._pos:
            return b""
        self._stream.seek(self._pos)
        data = bytearray(self._stream.read(end - self._pos))
        for at, replacement in self._overlays.items():
            lo, hi = max(at, self._pos), min(at + len(replacement), self._pos + len(data))
            if lo < hi:
                data[lo - self._pos : hi - self._pos] = replacement[lo - at : hi - at]
        self._pos += len(data)
        return bytes(data)
