"""Where the stub's section goes in the patched file's section header table.

The linker lists every allocatable section (SHF_ALLOC: part of the memory image) before
the others (.comment, debug info, .symtab, .shstrtab), in the order their bytes lie in
the file; the patch keeps both orders (the bytes: layout.py).  So `.text.relinterp`
(allocatable) takes the place of the first non-allocatable section, and that section
moves to the end: one section changes its index, and every reference to it (sh_link,
sh_info where it names a section, e_shstrndx) follows.  A symbol can name a section too
(st_shndx); linked programs hold no symbol in a non-allocatable section, but where one
does, the stub's section is appended last instead, as the symbol table is copied unread.
"""

from __future__ import annotations

import os
import sys
from array import array

from ..elf.structs import SHF_ALLOC

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which costs `relinterp patch` the import of typing
if TYPE_CHECKING:
    from .sections import SymbolTable

SHF_INFO_LINK = 0x40  # sh_info holds a section index
SHT_REL, SHT_RELA = 9, 4
SCAN_CHUNK = 1 << 20  # bytes of symbols read at a time
SHNDX_AT = {64: 6, 32: 14}  # st_shndx's offset in Elf64_Sym, Elf32_Sym


def stub_index(base, entries: list, symbols: SymbolTable | None, source) -> int:
    """The index `.text.relinterp` gets: that of the first non-allocatable section, or
    len(entries) (appended) when there is none, or when a symbol names that section.
    `source(offset)`: where the original's byte at `offset` is in base.path."""
    first = next((i for i, e in enumerate(entries) if i and not e.sh_flags & SHF_ALLOC), len(entries))
    if first < len(entries) and symbols is not None and _named_by_a_symbol(base, symbols, first, source):
        return len(entries)
    return first


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


def _named_by_a_symbol(base, symbols: SymbolTable, section: int, source) -> bool:
    """Whether a symbol of the table has st_shndx `section`: read a chunk at a time, the
    st_shndx fields picked out as an array (one pass in C, whatever the table's size)."""
    size = base.layouts().sym.size
    at, table = SHNDX_AT[base.elfclass], symbols.symbols
    chunk = SCAN_CHUNK - SCAN_CHUNK % size
    swap = base.little_endian != (sys.byteorder == "little")
    with open(base.path, "rb") as stream:
        for start in range(0, table.size - table.size % size, chunk):
            data = os.pread(stream.fileno(), min(chunk, table.size - table.size % size - start),
                            source(table.offset) + start)
            fields = array("H", data[: len(data) - len(data) % size])
            if swap:
                fields.byteswap()
            if section in fields[at // 2 :: size // 2]:
                return True
    return False
