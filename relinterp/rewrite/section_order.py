"""Where the stub's section goes in the patched file's section header table.

The linker lists every allocatable section (SHF_ALLOC: part of the memory image) before
the others (.comment, debug info, .symtab, .shstrtab), in the order their bytes lie in
the file; the patch keeps both orders (the bytes: layout.py).  So `.text.relinterp`
(allocatable) takes the place of the first non-allocatable section, and that section
moves to the end: one section changes its index, and every reference to it follows:
sh_link, sh_info where it names a section, e_shstrndx, and the st_shndx of the symbols
naming it (some linkers, s390x's for one, give every section a STT_SECTION symbol) in
the copy of the symbol table the patch writes.  Where more symbols than
MAX_RENAMED_SYMBOLS name it, the stub's section is appended last instead.
"""

from __future__ import annotations

import os
import sys
from array import array

from ..elf.regular import reading
from ..elf.structs import SHF_ALLOC

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which costs `relinterp patch` the import of typing
if TYPE_CHECKING:
    from .sections import SymbolTable

SHF_INFO_LINK = 0x40  # sh_info holds a section index
SHT_REL, SHT_RELA = 9, 4
SCAN_CHUNK = 1 << 20  # bytes of symbols read at a time
SHNDX_AT = {64: 6, 32: 14}  # st_shndx's offset in Elf64_Sym, Elf32_Sym
MAX_RENAMED_SYMBOLS = 1024  # each is a piece of its own in the plan


def stub_place(base, entries: list, symbols: SymbolTable | None, source,
               stream=None) -> tuple[int, tuple[int, ...]]:
    """The index `.text.relinterp` gets (that of the first non-allocatable section, or
    len(entries), appended, when there is none or too many symbols name that section),
    and where, in the symbol table, the st_shndx fields naming that section are (byte
    offsets from the table's start).  `source(offset)`: where the original's byte at
    `offset` is in base.path, open as `stream` (None: opened here)."""
    first = next((i for i, e in enumerate(entries) if i and not e.sh_flags & SHF_ALLOC), len(entries))
    if first == len(entries) or symbols is None:
        return first, ()
    naming = _symbols_naming(base, symbols, first, source, stream)
    return (len(entries), ()) if naming is None else (first, naming)


def exchange(entries: list, a: int, b: int, shstrndx: int) -> tuple[list, int]:
    """The table with sections `a` and `b` swapped and every section index in it (and
    e_shstrndx) following them."""
    if a == b:
        return entries, shstrndx
    index = {a: b, b: a}
    moved = list(entries)
    moved[a], moved[b] = moved[b], moved[a]
    for i, e in enumerate(moved):
        info = e.sh_info
        if e.sh_flags & SHF_INFO_LINK or e.sh_type in (SHT_REL, SHT_RELA):
            info = index.get(info, info)
        moved[i] = e._replace(sh_link=index.get(e.sh_link, e.sh_link), sh_info=info)
    return moved, index.get(shstrndx, shstrndx)


def _symbols_naming(base, symbols: SymbolTable, section: int, source, stream=None) -> tuple[int, ...] | None:
    """The byte offsets, from the symbol table's start, of the st_shndx fields equal to
    `section`; None when there are more than MAX_RENAMED_SYMBOLS.  Read a chunk at a time,
    the fields picked out as an array and searched in C, whatever the table's size."""
    size = base.layouts().sym.size
    at, table = SHNDX_AT[base.elfclass], symbols.symbols
    whole = table.size - table.size % size
    chunk = SCAN_CHUNK - SCAN_CHUNK % size
    swap = base.little_endian != (sys.byteorder == "little")
    found: list[int] = []
    with reading(base.path if stream is None else stream) as opened:  # the file the run opened: the path may
        for start in range(0, whole, chunk):                          # name another by now
            data = os.pread(opened.fileno(), min(chunk, whole - start), source(table.offset) + start)
            fields = array("H", data[: len(data) - len(data) % size])
            if swap:
                fields.byteswap()
            shndx = fields[at // 2 :: size // 2]
            n = shndx.count(section)
            if n and len(found) + n > MAX_RENAMED_SYMBOLS:
                return None
            index = -1
            for _ in range(n):
                index = shndx.index(section, index + 1)
                found.append(start + index * size + at)
    return tuple(found)
