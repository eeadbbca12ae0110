"""The dynamic table entries the model carries (DT_NEEDED, DT_SONAME, DT_RUNPATH,
DT_RPATH, DT_FLAGS_1, whether DT_RELR is used), read from PT_DYNAMIC, never from section
headers.

A stripped file, or one whose section headers are gone altogether, still has its
dynamic segment: the loader reads nothing else.  The loader reads the table at PT_DYNAMIC's
address and its strings at DT_STRTAB, an address too: both are read through the memory
image the PT_LOADs make (relinterp.elf.image), where a table may span two segments.  A
PT_DYNAMIC that no PT_LOAD maps (no loader could read it) is read at its p_offset.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..errors import MalformedElfError
from .image import MemoryImage
from .structs import (DF_1_NODEFLIB, DF_1_PIE, DT_FLAGS_1, DT_NEEDED, DT_NULL, DT_RELR, DT_RELRSZ, DT_RPATH,
                      DT_RUNPATH, DT_SONAME, DT_STRSZ, DT_STRTAB, ElfLayouts)

STRING_CHUNK = 256  # dynamic strings are short: read them a little at a time
# Bounds on what a file can make relinterp read and keep (docs/robustness.md); real
# programs have tens of entries and strings of a few hundred bytes.
MAX_DYNAMIC_ENTRIES = 1 << 14
DYNAMIC_CHUNK = 4096  # bytes: whole entries of either class
MAX_STRING = 1 << 16  # one DT_NEEDED, DT_SONAME, DT_RUNPATH or DT_RPATH string
MAX_STRING_BYTES = 1 << 20  # all of them together


@dataclass(frozen=True)
class DynamicInfo:
    """The dynamic entries relinterp reports or relies on."""

    flags_1: int = 0
    needed: tuple[str, ...] = ()
    soname: str | None = None
    runpath: str | None = None  # DT_RUNPATH, as written (colon-separated)
    rpath: str | None = None  # DT_RPATH, as written (colon-separated)
    relr: bool = False  # DT_RELR packed relative relocations (gABI, 2022) are used

    @property
    def pie(self) -> bool:
        return bool(self.flags_1 & DF_1_PIE)

    @property
    def nodeflib(self) -> bool:
        return bool(self.flags_1 & DF_1_NODEFLIB)


def read_dynamic(path: str, stream, layouts: ElfLayouts, dynamic, image: MemoryImage) -> DynamicInfo:
    """Parse the Elf_Dyn entries of the segment `dynamic` up to DT_NULL, then resolve
    their strings, reading both from the program's memory `image`."""
    tags: dict[int, int] = {}
    needed: list[int] = []
    if image.mapped(dynamic.vaddr):
        def read(at: int, n: int) -> bytes:
            return image.read(stream, dynamic.vaddr + at, n)
    else:
        def read(at: int, n: int) -> bytes:
            stream.seek(dynamic.offset + at)
            return stream.read(n)
    for tag, value in _entries(path, read, layouts, dynamic.filesz):
        if tag == DT_NEEDED:
            needed.append(value)
        else:
            tags.setdefault(tag, value)
    strsz = tags.get(DT_STRSZ, 0)
    strtab = tags.get(DT_STRTAB)
    budget = MAX_STRING_BYTES

    def string(offset: int | None, name: str) -> str | None:
        nonlocal budget
        if offset is None or strtab is None or offset >= strsz:
            return None
        text = _read_string(path, lambda n, at=strtab + offset: image.read(stream, at, n), strsz - offset, name)
        budget -= 0 if text is None else len(text)
        if budget < 0:
            raise MalformedElfError(path, f"dynamic strings longer than {MAX_STRING_BYTES} bytes in all")
        return text

    return DynamicInfo(
        flags_1=tags.get(DT_FLAGS_1, 0),
        needed=tuple(s for s in (string(n, "DT_NEEDED") for n in needed) if s is not None),
        soname=string(tags.get(DT_SONAME), "DT_SONAME"),
        runpath=string(tags.get(DT_RUNPATH), "DT_RUNPATH"),
        rpath=string(tags.get(DT_RPATH), "DT_RPATH"),
        relr=DT_RELR in tags or DT_RELRSZ in tags,
    )


def _entries(path: str, read: Callable[[int, int], bytes], layouts: ElfLayouts,
             filesz: int) -> Iterator[tuple[int, int]]:
    """The (d_tag, d_val) pairs before DT_NULL, read a chunk at a time (`read(at, n)`:
    the table's bytes from `at`): a table is tens of entries, whatever p_filesz claims.
    The loader reads up to DT_NULL and no further, so a table without one within
    p_filesz is malformed."""
    size = min(filesz, MAX_DYNAMIC_ENTRIES * layouts.dyn.size)
    for start in range(0, size - size % layouts.dyn.size, DYNAMIC_CHUNK):
        chunk = read(start, min(DYNAMIC_CHUNK, size - start))
        for tag, value in layouts.dyn.struct.iter_unpack(chunk[: len(chunk) - len(chunk) % layouts.dyn.size]):
            if tag == DT_NULL:
                return
            yield tag, value
    if filesz >= MAX_DYNAMIC_ENTRIES * layouts.dyn.size:
        raise MalformedElfError(path, f"dynamic table has no DT_NULL in its first {MAX_DYNAMIC_ENTRIES} entries")
    raise MalformedElfError(path, "dynamic table has no DT_NULL (a loader would read past PT_DYNAMIC)")


def _read_string(path: str, read: Callable[..., bytes], limit: int, name: str) -> str | None:
    """The NUL-terminated string `read(n)` gives the first bytes of, if it ends within
    `limit` bytes; read in one go up to MAX_STRING (short strings in one small read)."""
    data = read(min(STRING_CHUNK, limit))
    end = data.find(b"\0")
    if end < 0 and len(data) == min(STRING_CHUNK, limit) < limit:
        data = read(min(MAX_STRING, limit))
        end = data.find(b"\0")
    if end >= 0:
        return os.fsdecode(data[:end])
    if limit > MAX_STRING and len(data) == MAX_STRING:
        raise MalformedElfError(path, f"{name} string longer than {MAX_STRING} bytes (no NUL)")
    return None  # runs off the string table: not a string
