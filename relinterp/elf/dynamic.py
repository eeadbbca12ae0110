"""The dynamic table entries the model carries (DT_NEEDED, DT_SONAME, DT_RUNPATH,
DT_RPATH, DT_FLAGS_1, whether DT_RELR is used), read from PT_DYNAMIC, never from section
headers.

A stripped file, or one whose section headers are gone altogether, still has its
dynamic segment: the loader reads nothing else.  Its strings live in DT_STRTAB, which
is an address, so it is found in the file through the PT_LOAD that maps it, as the
loader finds it in memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from .structs import (DF_1_NODEFLIB, DF_1_PIE, DT_FLAGS_1, DT_NEEDED, DT_NULL, DT_RELR, DT_RELRSZ, DT_RPATH,
                      DT_RUNPATH, DT_SONAME, DT_STRSZ, DT_STRTAB, ElfLayouts)

STRING_CHUNK = 256  # dynamic strings are short: read them a little at a time


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


def read_dynamic(stream, layouts: ElfLayouts, dynamic, locate: Callable[[int, int], int | None]) -> DynamicInfo:
    """Parse the Elf_Dyn entries of the segment `dynamic` up to DT_NULL, then resolve
    their strings; `locate(vaddr, size)` says where an address is in the file."""
    stream.seek(dynamic.offset)
    tags: dict[int, int] = {}
    needed: list[int] = []
    for tag, value in layouts.dyn.parse_all(stream.read(dynamic.filesz)):
        if tag == DT_NULL:
            break
        if tag == DT_NEEDED:
            needed.append(value)
        else:
            tags.setdefault(tag, value)
    strsz = tags.get(DT_STRSZ, 0)
    strtab = locate(tags[DT_STRTAB], strsz) if DT_STRTAB in tags else None

    def string(offset: int | None) -> str | None:
        if offset is None or strtab is None or offset >= strsz:
            return None
        return _read_string(stream, strtab + offset, strsz - offset)

    return DynamicInfo(
        flags_1=tags.get(DT_FLAGS_1, 0),
        needed=tuple(s for s in map(string, needed) if s is not None),
        soname=string(tags.get(DT_SONAME)),
        runpath=string(tags.get(DT_RUNPATH)),
        rpath=string(tags.get(DT_RPATH)),
        relr=DT_RELR in tags or DT_RELRSZ in tags,
    )


def _read_string(stream, offset: int, limit: int) -> str | None:
    """The NUL-terminated string at `offset`, if it ends within `limit` bytes."""
    stream.seek(offset)
    data = b""
    while len(data) < limit:
        chunk = stream.read(min(STRING_CHUNK, limit - len(data)))
        end = chunk.find(b"\0")
        if end >= 0:
            return os.fsdecode(data + chunk[:end])
        if not chunk:
            break
        data += chunk
    return None  # runs off the string table: not a string
