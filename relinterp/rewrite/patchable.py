"""What relinterp can patch, checked before anything is planned or written: the
program's type and interpreter, a machine with a stub, a layout the stub can rely on at
run time, headers the patch can rewrite, and loader candidates that fit the stub's
buffers."""

from __future__ import annotations

import os

from ..elf.model import Executable
from ..elf.record import MAX_CANDIDATE_BYTES, MAX_CANDIDATES
from ..elf.structs import SHT_STRTAB
from ..errors import CandidateError, MalformedElfError, NothingToPatchError, NotExecutableError, UnsupportedError
from .stub import StubBlob, supported_arches


def check_candidates(path: str, candidates: tuple[str, ...]) -> None:
    """The stub's buffers are sized for these bounds: refuse here what would not fit there."""
    if not candidates:
        raise CandidateError(path, "no loader candidate given (use --loader-rel)")
    if len(candidates) > MAX_CANDIDATES:
        raise CandidateError(path, f"{len(candidates)} loader candidates, at most {MAX_CANDIDATES}")
    for number, candidate in enumerate(candidates, 1):
        raw = os.fsencode(candidate)
        if not raw or b"\0" in raw:
            raise CandidateError(path, f"invalid loader path {candidate!r}")
        if len(raw) > MAX_CANDIDATE_BYTES:
            raise CandidateError(path, f"loader candidate {number} is {len(raw)} bytes long, "
                                       f"at most {MAX_CANDIDATE_BYTES}: {candidate[:40]}...")


def check_patchable(exe: Executable, stub: StubBlob | None) -> StubBlob:
    """Refuse what relinterp cannot patch (`stub` is None: no stub for its machine);
    return the stub to use."""
    if exe.elf_type not in ("ET_EXEC", "ET_DYN"):
        raise NotExecutableError(exe.path, f"not an executable (ELF type {exe.elf_type})")
    if exe.interp is None:
        if exe.elf_type == "ET_EXEC":
            raise NothingToPatchError(exe.path, "static executable, nothing to patch")
        if exe.pie:
            raise NothingToPatchError(exe.path, "static-pie executable, nothing to patch")
        raise NotExecutableError(exe.path, "shared library (no PT_INTERP), not an executable")
    if not exe.interp:
        raise MalformedElfError(exe.path, "PT_INTERP is an empty path (its first byte is NUL): the kernel cannot "
                                          "start this program, and nothing could give it back a working one")
    if stub is None:
        order = "little" if exe.little_endian else "big"
        raise UnsupportedError(exe.path, f"unsupported machine {exe.machine} ({exe.elfclass}-bit, "
                                         f"{order}-endian); supported: {', '.join(supported_arches())}")
    _check_layout(exe)
    return stub


def _check_layout(exe: Executable) -> None:
    """What the stub relies on at run time, checked here so that it need not be there:
    the tables it reads through the program's memory are mapped from the file."""
    interps = sum(s.type == "PT_INTERP" for s in exe.segments)
    if interps > 1:
        raise MalformedElfError(exe.path, f"{interps} PT_INTERP entries (a program has at most one)")
    loads = exe.loads()
    if not loads:
        raise UnsupportedError(exe.path, "no PT_LOAD segment")
    if not any(s.covers_file_range(exe.phoff, len(exe.phdrs)) for s in loads):
        raise UnsupportedError(exe.path, "program header table not covered by a PT_LOAD segment, "
                                         "so the program cannot find it in memory")
    dynamic = next((s for s in exe.segments if s.type == "PT_DYNAMIC"), None)
    if dynamic is not None and exe.memory_image().file_range(dynamic.vaddr, dynamic.filesz) != dynamic.offset:
        raise MalformedElfError(exe.path, f"PT_DYNAMIC is not in a PT_LOAD segment (p_vaddr={dynamic.vaddr:#x}, "
                                          f"p_offset={dynamic.offset:#x}), so the program cannot find it in memory")
    _check_headers(exe)


def _check_headers(exe: Executable) -> None:
    """The tables the patch rewrites must be apart, and the section names known: the
    patch writes the ELF header and the program header table each whole, and adds names
    to the section name table (an e_shstrndx naming another section, .symtab say, would
    give its index two contents in the new table)."""
    if exe.phoff < len(exe.header) and exe.phdrs:
        raise MalformedElfError(exe.path, f"the program header table (e_phoff={exe.phoff:#x}) overlaps the ELF "
                                          f"header ({len(exe.header)} bytes): patching rewrites both")
    if exe.shnum and exe.shstrndx:  # SHN_UNDEF: no names, a new table is made
        structs = exe.layouts()
        names = structs.shdr.parse(exe.section_headers, exe.shstrndx * exe.shentsize) \
            if exe.shstrndx < exe.shnum else None
        if names is None or names.sh_type != SHT_STRTAB:
            what = "no section" if names is None else f"a section of type {names.sh_type}"
            raise MalformedElfError(exe.path, f"e_shstrndx {exe.shstrndx} names {what}, not the section name "
                                              "table (SHT_STRTAB)")
