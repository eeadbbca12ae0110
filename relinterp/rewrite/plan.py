"""Pure planning: from an executable, a stub and loader candidates to the bytes to write.

The surgery (docs/how-it-works.md):
- the program header table keeps its place and its size: the PT_INTERP entry goes,
  later entries move up one, and one PT_LOAD (R+X) for the stub is added last;
- the stub, its config block and the restore record are appended at EOF with no page
  padding; the new segment's address lies above every existing segment (past .bss),
  congruent with its file offset modulo the largest p_align, as the ELF spec requires;
- e_entry points at the stub;
- a new section header table, written after the segment, tells tools what the file now
  is (sections.py): a section covers the segment, or `strip` would drop it, and a
  `_dl_debug_state` symbol lets gdb follow the loader.  The old table stays where it
  was, untouched.
Nothing else in the file changes.  A loader embedded in the program (embed.py) goes
between the program's bytes and the stub's segment, and the program header table moves
into that segment, the original one staying in place.
"""

from __future__ import annotations

import os
from collections import namedtuple
from dataclasses import dataclass, replace

from ..elf.executable import MAX_STUB_SEGMENT
from ..elf.model import Executable, Segment, file_offset
from ..elf.record import FLAG_EMBEDDED, MAX_CANDIDATE_BYTES, MAX_CANDIDATES, RestoreRecord, StubConfig
from ..elf.structs import PF_R, PF_X, PT_LOAD, Phdr, align_up
from ..errors import CandidateError, MalformedElfError, NothingToPatchError, NotExecutableError, UnsupportedError
from . import embed
from .embed import Embedding, LoaderImage
from .sections import (NewSection, NewSymbol, SourceRange, debug_state_symbol, plan_sections, read_symbol_table,
                       stub_section)
from .stub import CODE_ALIGN, StubBlob, supported_arches

SEGMENT_FILE_ALIGN = CODE_ALIGN  # where the appended stub starts: no page padding is needed


@dataclass(frozen=True)
class Write:
    offset: int
    data: bytes


@dataclass(frozen=True)
class Copy:
    """`size` bytes of the source at `source`, copied to `offset`."""

    offset: int
    source: int
    size: int


# The stub's segment as planned: the PT_LOAD, its bytes, the program header table of the
# result and where that lies in the file.
AppendedStub = namedtuple("AppendedStub", "segment data phdrs phoff")


@dataclass(frozen=True)
class RewritePlan:
    """The result = the source's first `keep` bytes, then `writes` and `copies` applied,
    `size` bytes."""

    keep: int
    writes: tuple[Write, ...]
    size: int
    segment: Segment | None = None  # the stub's new PT_LOAD, for a patch
    copies: tuple[Copy, ...] = ()
    phdrs: bytes = b""  # the program header table of the result, for a patch


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
    if dynamic is not None and file_offset(loads, dynamic.vaddr, dynamic.filesz) != dynamic.offset:
        raise MalformedElfError(exe.path, f"PT_DYNAMIC is not in a PT_LOAD segment (p_vaddr={dynamic.vaddr:#x}, "
                                          f"p_offset={dynamic.offset:#x}), so the program cannot find it in memory")


def plan_patch(exe: Executable, stub: StubBlob | None, candidates: tuple[str, ...], *,
               flags: int = 0, facts: RestoreRecord | None = None, loader: LoaderImage | None = None) -> RewritePlan:
    """Plan the patch of `exe` (of its recorded original, if it is patched already).
    `flags` records the candidates' provenance (record.FLAG_*); `facts` what the restore
    record says about the original besides its headers (restore_facts; None: nothing,
    as older versions wrote it); `loader`, the loader to embed instead of candidates."""
    base = exe.unpatched
    if base is None:
        raise ValueError(f"{exe.path}: the original of this patched file is unknown")
    stub = check_patchable(base, stub)
    if loader is None:
        check_candidates(exe.path, candidates)
    structs = base.layouts()
    embedding = None if loader is None else embed.place_loader(base, loader)
    appended = _stub_segment(base, stub, candidates, flags, _restore_record(base, facts), embedding)
    segment = appended.segment
    _check_address_space(base, segment.end)
    added, symbols = _sections_and_symbols(segment, stub, embedding, structs)
    sections = plan_sections(base, structs, added, symbols, segment.offset + len(appended.data),
                             read_symbol_table(base, structs))
    header = _elf_header(base, structs, entry=segment.vaddr + stub.entry_offset, shoff=sections.shoff,
                         shnum=sections.shnum, shstrndx=sections.shstrndx, phoff=appended.phoff,
                         phnum=len(appended.phdrs) // base.phentsize)
    if embedding is None:
        writes = [Write(0, header), Write(base.phoff, appended.phdrs),
                  Write(base.file_size, bytes(segment.offset - base.file_size) + appended.data)]
    else:  # the original program headers stay where they were (a file patched before gets them back)
        loader = embed.appended_bytes(base, embedding, segment)  # after a hole: nothing reads the gap
        writes = [Write(0, header), Write(base.phoff, base.phdrs),
                  Write(embedding.tables_offset, loader + bytes(segment.offset - embedding.file_end) + appended.data)]
    copies = []
    for at, piece in sections.pieces:
        if isinstance(piece, SourceRange):
            copies.append(Copy(at, piece.offset, piece.size))
        elif writes[-1].offset + len(writes[-1].data) == at:  # one write for adjacent bytes
            writes[-1] = Write(writes[-1].offset, writes[-1].data + piece)
        else:
            writes.append(Write(at, piece))
    return RewritePlan(keep=base.file_size, writes=tuple(writes), size=sections.end, segment=segment,
                       copies=tuple(copies), phdrs=appended.phdrs)


def _sections_and_symbols(segment: Segment, stub: StubBlob, embedding: Embedding | None,
                          structs) -> tuple[list[NewSection], list[NewSymbol]]:
    """What tools are told of the appended bytes: the stub's section and its debug hook,
    or with an embedded loader sections over the loader and its table, and the loader's
    symbols (its `_dl_debug_state` among them, where gdb then breaks directly)."""
    added = [stub_section(segment)]
    if embedding is None:
        return added, [debug_state_symbol(segment.vaddr + stub.debug_state_offset)]
    added += [NewSection(name, flags, addr, offset, size, kind=kind)
              for name, kind, flags, addr, offset, size, _ in embed.loader_sections(embedding)]
    symbols = []
    for name, sym in embed.loader_symbols(embedding, structs):
        index = next((i for i, a in enumerate(added) if a.addr <= sym.st_value < a.addr + a.size), None)
        if index is not None:
            symbols.append(NewSymbol(name, sym.st_value, sym.st_size, sym.st_info, index))
    return added, symbols


def restore_facts(base: Executable, sha256: bytes) -> RestoreRecord:
    """The facts to record about the original `base` whose digest is `sha256`."""
    return RestoreRecord(original_size=base.file_size, header=base.header, phdrs=base.phdrs, sha256=sha256,
                         interp=base.interp, needed=base.needed, runpath=base.runpath, rpath=base.rpath)


def _restore_record(base: Executable, facts: RestoreRecord | None) -> RestoreRecord:
    record = RestoreRecord(original_size=base.file_size, header=base.header, phdrs=base.phdrs)
    return record if facts is None else replace(facts, original_size=base.file_size, header=base.header,
                                                phdrs=base.phdrs)


def _stub_segment(base: Executable, stub: StubBlob, candidates: tuple[str, ...], flags: int,
                  restore: RestoreRecord, embedding: Embedding | None) -> AppendedStub:
    """The PT_LOAD for the stub, appended at EOF (after an embedded loader) above every
    segment, its bytes, and the program header table."""
    loads = base.loads() + (embedding.loads if embedding else [])
    align = max(max(s.align for s in loads), 1)
    seg_offset = align_up(base.file_size if embedding is None else embedding.file_end, SEGMENT_FILE_ALIGN)
    seg_vaddr = align_up(max(s.end for s in loads), align) + seg_offset % align
    _check_address_space(base, seg_vaddr + len(stub.code))  # before anything is packed at that address
    config = StubConfig(entry=base.entry, dynamic=base.dynamic, candidates=candidates, flags=flags,
                        restore=restore)
    placed = Segment(index=len(base.segments) - 1, type="PT_LOAD", flags=PF_R | PF_X, offset=seg_offset,
                     vaddr=seg_vaddr, filesz=0, memsz=0, align=align)
    if embedding is not None:
        config = replace(config, flags=flags | FLAG_EMBEDDED, embedded=embedding.record())
    data = stub.code + config.pack(seg_vaddr + stub.config_offset, stub.config_offset, base.little_endian)
    segment = replace(placed, filesz=len(data), memsz=len(data))
    if embedding is None:
        appended = AppendedStub(segment, data, _program_headers(base, base.layouts(), segment), base.phoff)
    else:
        appended = AppendedStub(segment, data, embed.kernel_table(base, base.layouts(), embedding, segment),
                                embedding.tables_offset)
    if len(appended.data) > MAX_STUB_SEGMENT:  # read_executable would not recognise it
        raise UnsupportedError(base.path, f"the stub segment would be {len(appended.data)} bytes "
                                          f"(the record of {len(base.phdrs)} bytes of program headers "
                                          f"included), at most {MAX_STUB_SEGMENT}")
    return appended


def _check_address_space(base: Executable, end: int) -> None:
    if end > 1 << base.elfclass:  # ELFCLASS32: addresses are 32 bits
        raise UnsupportedError(base.path, f"no room for the stub above the program's segments in a "
                                          f"{base.elfclass}-bit address space (it would end at {end:#x})")


def _program_headers(base: Executable, structs, segment: Segment) -> bytes:
    size = base.phentsize
    entries = [base.phdrs[i : i + size] for i in range(0, len(base.phdrs), size)]
    interp = next(s.index for s in base.segments if s.type == "PT_INTERP")
    del entries[interp]
    entries.append(structs.phdr.build(Phdr(
        p_type=PT_LOAD, p_flags=segment.flags, p_offset=segment.offset,
        p_vaddr=segment.vaddr, p_paddr=segment.vaddr, p_filesz=segment.filesz, p_memsz=segment.memsz,
        p_align=segment.align,
    )))
    return b"".join(entries)


def _elf_header(base: Executable, structs, *, entry: int, shoff: int, shnum: int, shstrndx: int, phoff: int,
                phnum: int) -> bytes:
    header = structs.ehdr.parse(base.header)
    # e_shentsize: 0 in files that had no sections
    return structs.ehdr.build(header._replace(e_entry=entry, e_shoff=shoff, e_shnum=shnum, e_shstrndx=shstrndx,
                                              e_shentsize=structs.shdr.size, e_phoff=phoff, e_phnum=phnum))

