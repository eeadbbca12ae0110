"""A program's memory image, as the loader sees it, read from the file.

The loader reads what the dynamic table points at (strings, symbols, the table itself)
by address: `bias + vaddr`.  Memory there is what the PT_LOAD segments map, one after
the other: a string table may start in one segment and end in the next (patchelf 0.14
leaves `.dynstr` so when it grows the search list of a non-PIE program: the first
PT_LOAD it adds ends where the program's first one starts).  So every reader that
locates data by address goes through one MemoryImage, never through "the segment that
holds it", which would find no single segment for such a table.

The image maps [p_vaddr, p_vaddr + p_filesz) to the file bytes at p_offset and
[p_vaddr + p_filesz, p_vaddr + p_memsz) to zeros (the kernel's bss); nothing else is
mapped.  (The kernel maps whole pages, so the bytes sharing a page with a segment are
in memory too; no loader relies on them, and neither does relinterp.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which costs `relinterp patch` the import of typing
if TYPE_CHECKING:
    from .model import Segment


@dataclass(frozen=True)
class Piece:
    """`size` bytes of the image: the file's at `offset`, or zeros when `offset` is None."""

    offset: int | None
    size: int


@dataclass(frozen=True)
class FileRun:
    """A stretch of the image whose bytes lie in one stretch of the file: address and
    file offset advance together over `size` bytes."""

    vaddr: int
    offset: int
    size: int


class MemoryImage:
    """The memory the PT_LOAD segments `loads` make (the segments must not overlap, as
    relinterp.elf.bounds checks)."""

    def __init__(self, loads: Iterable[Segment]) -> None:
        self._loads = sorted((s for s in loads if s.memsz), key=lambda s: s.vaddr)

    def pieces(self, vaddr: int, size: int) -> Iterator[Piece]:
        """The pieces that make the `size` bytes at `vaddr`, in order, as far as they are
        mapped: they stop at the first address no segment maps."""
        at, end = vaddr, vaddr + size
        for segment in self._loads:
            if at >= end or segment.vaddr > at:  # done, or a gap: nothing is mapped at `at`
                return
            if segment.end <= at:
                continue
            in_file = segment.vaddr + segment.filesz
            if at < in_file:
                n = min(in_file, end) - at
                yield Piece(segment.offset + at - segment.vaddr, n)
                at += n
            if at < end and at < segment.end:
                n = min(segment.end, end) - at
                yield Piece(None, n)
                at += n

    def mapped(self, vaddr: int, size: int = 1) -> bool:
        """Every one of the `size` bytes at `vaddr` is in the image."""
        return sum(p.size for p in self.pieces(vaddr, size)) == size

    def file_range(self, vaddr: int, size: int) -> int | None:
        """The file offset of the `size` bytes at `vaddr` when they are one stretch of the
        file's bytes (not zeros), as a segment or section that names both an address and
        an offset must be; None otherwise."""
        start = expected = None
        total = 0
        for piece in self.pieces(vaddr, size):
            if piece.offset is None or (expected is not None and piece.offset != expected):
                return None
            start = piece.offset if start is None else start
            expected = piece.offset + piece.size
            total += piece.size
        return start if total == size and size else None

    def read(self, stream, vaddr: int, size: int) -> bytes:
        """The `size` bytes at `vaddr`, or fewer: those before the first unmapped address
        (or the end of a truncated file)."""
        data = bytearray()
        for piece in self.pieces(vaddr, size):
            if piece.offset is None:
                data += bytes(piece.size)
                continue
            stream.seek(piece.offset)
            chunk = stream.read(piece.size)
            data += chunk
            if len(chunk) < piece.size:
                break
        return bytes(data)

    def file_runs(self) -> Iterator[FileRun]:
        """The image's file bytes as maximal runs: segments that follow each other both in
        memory and in the file (with no zeros between them) make one run."""
        run: FileRun | None = None
        for segment in self._loads:
            if not segment.filesz:
                continue
            if run is not None and run.vaddr + run.size == segment.vaddr and run.offset + run.size == segment.offset:
                run = FileRun(run.vaddr, run.offset, run.size + segment.filesz)
                continue
            if run is not None:
                yield run
            run = FileRun(segment.vaddr, segment.offset, segment.filesz)
        if run is not None:
            yield run
