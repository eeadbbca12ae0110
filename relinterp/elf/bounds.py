"""Checks that an ELF file's headers describe tables and segments that lie within the
file and do not overlap: what must hold before anything else is read or planned."""

from __future__ import annotations

from ..errors import MalformedElfError, UnsupportedError

PN_XNUM = 0xFFFF  # e_phnum's escape to extended numbering (the count is in section 0)


def check_program_table(path: str, h, size: int, ehsize: int, phentsize: int) -> None:
    """The ELF header's description of itself and of the program headers must fit the file."""
    if h.e_phnum == PN_XNUM or (h.e_shnum == 0 and h.e_shoff != 0):
        raise UnsupportedError(path, "extended ELF header numbering (over 65279 entries) is not supported")
    if h.e_ehsize != ehsize:
        raise MalformedElfError(path, f"bad ELF header size (e_ehsize={h.e_ehsize})")
    if h.e_phnum and h.e_phentsize != phentsize:
        raise MalformedElfError(path, f"bad program header size (e_phentsize={h.e_phentsize})")
    if h.e_phoff + h.e_phnum * phentsize > size:
        raise MalformedElfError(path, f"program header table outside the file (e_phoff={h.e_phoff:#x}, "
                                      f"e_phnum={h.e_phnum}, file size {size})")


def check_section_table(path: str, h, size: int, shentsize: int) -> None:
    if h.e_shnum and h.e_shentsize != shentsize:
        raise MalformedElfError(path, f"bad section header size (e_shentsize={h.e_shentsize})")
    if h.e_shoff + h.e_shnum * shentsize > size:
        raise MalformedElfError(path, f"section header table outside the file (e_shoff={h.e_shoff:#x}, "
                                      f"e_shnum={h.e_shnum}, file size {size})")


def check_segments(path: str, segments: tuple, size: int, elfclass: int) -> None:
    for s in segments:
        if s.filesz and s.offset + s.filesz > size:
            raise MalformedElfError(path, f"segment {s.index} ({s.type}) outside the file "
                                          f"(p_offset={s.offset:#x}, p_filesz={s.filesz:#x}, file size {size})")
        if s.type == "PT_LOAD" and s.filesz > s.memsz:
            raise MalformedElfError(path, f"segment {s.index} (PT_LOAD) has p_filesz > p_memsz")
        if s.type == "PT_LOAD" and s.end > 1 << elfclass:  # no address in it could be written down
            raise MalformedElfError(path, f"segment {s.index} (PT_LOAD) ends past the {elfclass}-bit address space "
                                          f"(p_vaddr={s.vaddr:#x}, p_memsz={s.memsz:#x})")
    loads = sorted((s for s in segments if s.type == "PT_LOAD"), key=lambda s: s.vaddr)
    for a, b in zip(loads, loads[1:]):
        if a.end > b.vaddr:
            raise MalformedElfError(path, f"segments overlap: PT_LOAD {a.index} "
                                          f"[{a.vaddr:#x}, {a.end:#x}) and PT_LOAD {b.index} at {b.vaddr:#x}")
