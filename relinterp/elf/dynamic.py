"""The dynamic table entries the executable model carries (DT_NEEDED, DT_RUNPATH,
DT_RPATH, DT_FLAGS_1), read from PT_DYNAMIC, never from section headers, and without
pyelftools' ELFFile: this runs for every file `relinterp patch` reads.  (The fuller view
a loader has, for bundling, is relinterp.elf.linked.)

A stripped file, or one whose section headers are gone altogether, still has its
dynamic segment: the loader reads nothing else.  Its strings (DT_NEEDED, DT_RUNPATH,
DT_RPATH) live in DT_STRTAB, which is an address, so it is found in the file through
the PT_LOAD that maps it, as the loader finds it in memory.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from elftools.elf.enums import ENUM_D_TAG_COMMON as DT

DF_1_PIE = 0x08000000
STRING_CHUNK = 256  # dynamic strings are short: read them a little at a time


@dataclass(frozen=True)
class DynamicInfo:
    """The dynamic entries relinterp reports or relies on."""

    flags_1: int = 0
    needed: tuple[str, ...] = ()
    runpath: str | None = None  # DT_RUNPATH, as written (colon-separated)
    rpath: str | None = None  # DT_RPATH, as written (colon-separated)

    @property
    def pie(self) -> bool:
        return bool(self.flags_1 & DF_1_PIE)


def read_dynamic(stream, structs, dynamic, locate: Callable[[int, int], int | None]) -> DynamicInfo:
    """Parse the Elf_Dyn entries of the segment `dynamic` up to DT_NULL, then resolve
    their strings; `locate(vaddr, size)` says where an address is in the file."""
    stream.seek(dynamic.offset)
    table = stream.read(dynamic.filesz)
    layout = _entry_layout(structs)
    tags: dict[int, int] = {}
    needed: list[int] = []
    for tag, value in layout.iter_unpack(table[: len(table) - len(table) % layout.size]):
        if tag == DT["DT_NULL"]:
            break
        if tag == DT["DT_NEEDED"]:
            needed.append(value)
        else:
            tags.setdefault(tag, value)
    strsz = tags.get(DT["DT_STRSZ"], 0)
    strtab = locate(tags[DT["DT_STRTAB"]], strsz) if DT["DT_STRTAB"] in tags else None

    def string(offset: int | None) -> str | None:
        if offset is None or strtab is None or offset >= strsz:
            return None
        return _read_string(stream, strtab + offset, strsz - offset)

    return DynamicInfo(
        flags_1=tags.get(DT["DT_FLAGS_1"], 0),
        needed=tuple(s for s in map(string, needed) if s is not None),
        runpath=string(tags.get(DT["DT_RUNPATH"])),
        rpath=string(tags.get(DT["DT_RPATH"])),
    )


@lru_cache(maxsize=None)
def _entry_layout(structs) -> struct.Struct:
    """Elf_Dyn (d_tag, d_val) as a plain struct, in the widths and byte order of
    pyelftools' definitions: the table is read whole, without construct's per-field cost."""
    tag, value = structs.Elf_sxword("d_tag").packer.format, structs.Elf_xword("d_val").packer.format
    return struct.Struct(tag + value[1:])  # one byte-order prefix for both


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
