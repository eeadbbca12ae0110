"""The section header table of a patched file: what it tells tools and debuggers.

The patch appends a new table and leaves the original one where it was, untouched
(restore puts e_shoff back and cuts the file).  The new table is the original, plus:
- `.text.relinterp` (PROGBITS, ALLOC|EXEC) covering the stub's segment, so that
  `strip` keeps it.  Not `.relinterp`: names starting `.rel` denote relocation
  sections (gABI), and elfutils checks them as such; `.text.*` is how code is named.
- `.interp` renamed `.interp.orig`: the path in it is no longer this program's
  interpreter, and gdb, patchelf and BFD find the interpreter by that section name.
- a `_dl_debug_state` symbol on the stub's own debug-state function, where gdb puts its
  shared-library event breakpoint when it cannot find the loader (stub/debug_hook.h).
  BFD reads only the first SHT_SYMTAB, so a file with a `.symtab` gets a copy of it with
  the symbol appended (the entry, and its `.strtab`'s, point at the copies); a file
  without one gets a new `.symtab` and `.strtab`.  The copies are made by the writer
  from the file itself (a SourceRange), in the kernel: a symbol table can be tens of
  megabytes, and none of it passes through relinterp's memory.
- with an embedded loader (relinterp.rewrite.embed), sections over it and its table after
  the stub's (the file is then laid out with the stub at the end), and the loader's
  symbols instead of the stub's `_dl_debug_state`: its own is then the program's.
The new table must stay below SHN_LORESERVE entries: past that the gABI's extended
numbering begins, which the reader refuses (elf/bounds.py), so such a file is refused.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass

from ..elf.record import ALIGN
from ..elf.structs import (SHF_ALLOC, SHF_EXECINSTR, SHN_LORESERVE, SHT_NULL, SHT_PROGBITS, SHT_STRTAB,
                           SHT_SYMTAB, STB_GLOBAL, STB_LOCAL, STT_FUNC, STT_NOTYPE, Shdr, Sym, align_up)
from ..errors import UnsupportedError
from .section_order import exchange, stub_place
from .stub import CODE_ALIGN, DEBUG_STATE_SIZE

STUB_SECTION = b".text.relinterp"
OLD_INTERP_SECTION = b".interp.orig"
DEBUG_STATE_SYMBOL = b"_dl_debug_state"


# `size` bytes of the input file at `offset`, to be copied as they are.
SourceRange = namedtuple("SourceRange", "offset size")


@dataclass(frozen=True)
class SymbolTable:
    """A file's first SHT_SYMTAB and the string table it links to, by index and place."""

    index: int
    symbols: SourceRange
    strings_index: int
    strings: SourceRange


@dataclass(frozen=True)
class NewSection:
    """A section the patch adds after the stub's, over bytes it appends (or, NOBITS, the
    memory after them)."""

    name: bytes
    flags: int
    addr: int
    offset: int
    size: int
    align: int = 1
    kind: int = SHT_PROGBITS


@dataclass(frozen=True)
class NewSymbol:
    """A symbol the patch adds; `section`: 0 for the stub's section, n for the n-th NewSection."""

    name: bytes
    value: int
    size: int
    info: int  # st_info: bind << 4 | type
    section: int


@dataclass(frozen=True)
class SectionTable:
    """What to append from the offset plan_sections was given, up to `end`: each piece
    at its offset, bytes or a SourceRange (names, symbols, then the table at `shoff`)."""

    pieces: tuple[tuple[int, bytes | SourceRange], ...]
    end: int
    shoff: int
    shnum: int
    shstrndx: int


def _section(name: int, kind: int, flags: int = 0, addr: int = 0, offset: int = 0, size: int = 0, *,
             link: int = 0, info: int = 0, align: int = 1, entsize: int = 0) -> Shdr:
    return Shdr(sh_name=name, sh_type=kind, sh_flags=flags, sh_addr=addr, sh_offset=offset, sh_size=size,
                sh_link=link, sh_info=info, sh_addralign=align, sh_entsize=entsize)


def _name_at(names: bytes, offset: int) -> bytes:
    return names[offset : names.find(b"\0", offset)] if offset < len(names) else b""


def plan_sections(base, structs, segment, debug_state: int, offset: int, symbols: SymbolTable | None, *,
                  appended: bool = False, moved: tuple[int, int] | None = None,
                  source=lambda offset: offset, added: list[NewSection] = (),
                  symbols_added: list[NewSymbol] | None = None, stream=None) -> SectionTable:
    """The new section header table for `base` patched with `segment`, whose debug-state
    function is at address `debug_state`; everything it needs appended from `offset`.
    `moved` (cut, distance): the sections from the cut on moved by that distance
    (layout.py).  The stub's section goes before the non-allocatable ones
    (section_order), or with `appended` last, as files patched before the tail moved have it.  `source(offset)`:
    where the original's byte at `offset` is in base.path (a patched file moves its tail).
    `added` sections follow the stub's, appended (`appended` must be set), and
    `symbols_added` take the place of the debug-state symbol.  `stream`: base.path as the
    run opened it, to read from (None: the path is opened)."""
    entries = structs.shdr.parse_all(base.section_headers) or [_section(0, SHT_NULL, align=0)]
    if moved is not None:
        cut, distance = moved
        entries = [e._replace(sh_offset=e.sh_offset + distance) if i and e.sh_offset >= cut
                   and not e.sh_flags & SHF_ALLOC else e for i, e in enumerate(entries)]
    has_names = bool(base.section_names) and 0 < base.shstrndx < len(entries)
    names = bytearray(base.section_names if has_names else b"\0")

    def name(text: bytes) -> int:
        names.extend(text + b"\0")
        return len(names) - len(text) - 1

    for i, entry in enumerate(entries):
        if has_names and _name_at(base.section_names, entry.sh_name) == b".interp":
            entries[i] = entry._replace(sh_name=name(OLD_INTERP_SECTION))
    appended_at = len(entries)  # where the stub's section is made; it is then moved to its place
    place, renamed = (appended_at, ()) if appended else stub_place(base, entries, symbols, source, stream)
    entries.append(_section(name(STUB_SECTION), SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, segment.vaddr,
                            segment.offset, segment.filesz, align=CODE_ALIGN))
    assert appended or not added
    entries += [_section(name(a.name), a.kind, a.flags, a.addr, a.offset, a.size, align=a.align) for a in added]
    shstrndx = base.shstrndx if has_names else len(entries)
    if not has_names:
        entries.append(_section(name(b".shstrtab"), SHT_STRTAB))
    table = None if symbols is None else _renamed(structs, symbols.symbols, renamed, appended_at)
    if symbols_added is None:
        symbols_added = [NewSymbol(DEBUG_STATE_SYMBOL, debug_state, DEBUG_STATE_SIZE, STB_GLOBAL << 4 | STT_FUNC, 0)]
    blocks = [(shstrndx, [names]), *_add_symbols(structs, entries, symbols, table, place, symbols_added, name,
                                               shstrndx)]
    if len(entries) >= SHN_LORESERVE:
        raise UnsupportedError(base.path, f"{base.shnum} sections: with the patch's "
                                          f"the section header table would need extended numbering")
    return _lay_out(structs, entries, blocks, offset, shstrndx, (place, appended_at))


def _renamed(structs, symbols: SourceRange, fields: tuple[int, ...], section: int) -> list:
    """The pieces of the copy of the symbol table `symbols`, whose st_shndx `fields` (byte
    offsets in it) become `section`: copied from the file but for those two bytes each."""
    value = section.to_bytes(2, "little" if structs.little_endian else "big")
    pieces, at = [], 0
    for field in fields:
        pieces += [SourceRange(symbols.offset + at, field - at), value]
        at = field + 2
    return pieces + [SourceRange(symbols.offset + at, symbols.size - at)]


def _add_symbols(structs, entries: list, symbols: SymbolTable | None, table_pieces: list | None, section: int,
                 added: list[NewSymbol], name, shstrndx: int) -> list[tuple[int, list]]:
    """The symbols `added` (the `_dl_debug_state` symbol, or an embedded loader's), their
    sections counted from `section`, the stub's: the pieces of the symbol and string
    tables, by section index (`table_pieces`: the copy of the file's symbol table).
    `name` adds a section name; some linkers keep symbol names in that table too."""
    sym = structs.sym
    if symbols is None:
        strings: list = [b"\0"]
        table: list = [_symbol(sym, 0, 0, 0, STB_LOCAL, STT_NOTYPE, 0)]  # the null symbol
        strings_index = len(entries) + 1
        entries.append(_section(name(b".symtab"), SHT_SYMTAB, link=strings_index, info=1, align=ALIGN,
                                entsize=sym.size))
        entries.append(_section(name(b".strtab"), SHT_STRTAB))
        index = strings_index - 1
    else:
        index, strings_index = symbols.index, symbols.strings_index
        strings, table = [symbols.strings], list(table_pieces)
    shared = strings_index == shstrndx
    blocks = [(index, table)] if shared else [(index, table), (strings_index, strings)]
    at, names = _size(strings), bytearray()
    for symbol in added:
        if shared:
            where = name(symbol.name)
        else:
            where = at + len(names)
            names += symbol.name + b"\0"
        table.append(sym.build(Sym(st_name=where, st_value=symbol.value, st_size=symbol.size, st_info=symbol.info,
                                   st_other=0, st_shndx=section + symbol.section)))
    if not shared:
        strings.append(bytes(names))
    return blocks


def _size(pieces) -> int:
    return sum(p.size if isinstance(p, SourceRange) else len(p) for p in pieces)


def _symbol(sym, name: int, value: int, size: int, bind: int, kind: int, section: int) -> bytes:
    return sym.build(Sym(st_name=name, st_value=value, st_size=size, st_info=bind << 4 | kind, st_other=0,
                         st_shndx=section))


def _lay_out(structs, entries: list, blocks, offset: int, shstrndx: int, swap: tuple[int, int]) -> SectionTable:
    """Place the blocks (by section index) and the table from `offset`, sections `swap`
    exchanged in the table once placed."""
    pieces: list[tuple[int, bytes | SourceRange]] = []
    at = offset

    def place(piece) -> None:
        nonlocal at
        pieces.append((at, piece if isinstance(piece, SourceRange) else bytes(piece)))
        at += _size([piece])

    for index, contents in blocks:
        place(bytes(align_up(at, ALIGN) - at))
        entries[index] = entries[index]._replace(sh_offset=at, sh_size=_size(contents))
        for piece in contents:
            place(piece)
    shoff = align_up(at, ALIGN)
    place(bytes(shoff - at))
    entries, shstrndx = exchange(entries, *swap, shstrndx)
    place(b"".join(structs.shdr.build(entry) for entry in entries))
    return SectionTable(tuple(pieces), at, shoff, len(entries), shstrndx)


def read_symbol_table(base, structs) -> SymbolTable | None:
    """The first SHT_SYMTAB of `base` and its strings, or None if it has none usable."""
    entries = structs.shdr.parse_all(base.section_headers)
    index = next((i for i, e in enumerate(entries) if e.sh_type == SHT_SYMTAB), None)
    if index is None:
        return None
    table = entries[index]
    if table.sh_entsize != structs.sym.size or not 0 < table.sh_link < len(entries):
        return None
    strings = entries[table.sh_link]
    if strings.sh_type != SHT_STRTAB or max(table.sh_offset + table.sh_size,
                                               strings.sh_offset + strings.sh_size) > base.file_size:
        return None
    rewritten = ((0, len(base.header)), (base.phoff, base.phoff + len(base.phdrs)))
    if any(s.sh_offset < end and start < s.sh_offset + s.sh_size for s in (table, strings) for start, end in rewritten):
        return None  # its bytes are the headers the patch rewrites: a patched file would not read them the same
    return SymbolTable(index, SourceRange(table.sh_offset, table.sh_size), table.sh_link,
                       SourceRange(strings.sh_offset, strings.sh_size))
