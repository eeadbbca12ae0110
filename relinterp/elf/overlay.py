"""A file seen with some of its bytes replaced or moved, without copying it."""

from __future__ import annotations

import os


class OverlayView:
    """A read-only file object over `stream`: cut at `size`, with `overlays` (offset ->
    bytes) laid over what is there, and `moves` (offset -> (source offset, size)): those
    bytes read from elsewhere in the stream.  A patched file seen through its recorded
    size and original headers, the part the patch moved read from where it went, is the
    file as it was before patching."""

    def __init__(self, stream, size: int, overlays: dict[int, bytes],
                 moves: dict[int, tuple[int, int]] | None = None) -> None:
        self._stream = stream
        self._size = size
        self._overlays = overlays
        self._moves = sorted((at, source, n) for at, (source, n) in (moves or {}).items() if n)
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
        data = bytearray()
        for at, length in self._pieces(self._pos, end):
            self._stream.seek(at)
            chunk = self._stream.read(length)
            data += chunk
            if len(chunk) < length:
                break
        for at, replacement in self._overlays.items():
            lo, hi = max(at, self._pos), min(at + len(replacement), self._pos + len(data))
            if lo < hi:
                data[lo - self._pos : hi - self._pos] = replacement[lo - at : hi - at]
        self._pos += len(data)
        return bytes(data)

    def _pieces(self, start: int, end: int):
        """(stream offset, length) of the bytes [start, end) of the view, in order."""
        at = start
        for moved_at, source, size in self._moves:
            if at >= end:
                return
            if moved_at + size <= at:
                continue
            if moved_at > at:
                upto = min(moved_at, end)
                yield at, upto - at
                at = upto
                if at >= end:
                    return
            upto = min(moved_at + size, end)
            yield source + at - moved_at, upto - at
            at = upto
        if at < end:
            yield at, end - at
