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
Nothing else in the file changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..elf.executable import MAX_STUB_SEGMENT
from ..elf.model import Executable, Segment, file_offset
from ..elf.record import MAX_CANDIDATE_BYTES, MAX_CANDIDATES, RestoreRecord, StubConfig
from ..elf.structs import PF_R, PF_X, PT_LOAD, Phdr
from ..errors import CandidateError, ModifiedError, NothingToPatchError, NotExecutableError, UnsupportedError
from .sections import plan_sections, read_symbol_table
from .stub import StubBlob, supported_arches

SEGMENT_FILE_ALIGN = 16  # the stub's code alignment; no page padding is needed


@dataclass(frozen=True)
class Write:
    offset: int
    data: bytes


@dataclass(frozen=True)
class RewritePlan:
    """The result = the source's first `keep` bytes, then `writes` applied, `size` bytes."""

    keep: int
    writes: tuple[Write, ...]
    size: int
    segment: Segment | None = None  # the stub's new PT_LOAD, for a patch


def align_up(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


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
    loads = exe.loads()
    if not loads:
        raise UnsupportedError(exe.path, "no PT_LOAD segment")
    if not any(s.covers_file_range(exe.phoff, len(exe.phdrs)) for s in loads):
        raise UnsupportedError(exe.path, "program header table not covered by a PT_LOAD segment, "
                                         "so the program cannot find it in memory")
    return stub


def plan_patch(exe: Executable, stub: StubBlob | None, candidates: tuple[str, ...], *,
               flags: int = 0) -> RewritePlan:
    """Plan the patch of `exe` (of its recorded original, if it is patched already).
    `flags` records the candidates' provenance (config.FLAG_*)."""
    base = exe.unpatched
    if base is None:
        raise ValueError(f"{exe.path}: the original of this patched file is unknown")
    stub = check_patchable(base, stub)
    check_candidates(exe.path, candidates)
    structs = base.layouts()
    segment, segment_bytes = _stub_segment(base, stub, candidates, flags)
    seg_offset, seg_vaddr = segment.offset, segment.vaddr
    _check_address_space(base, segment)
    phdrs = _program_headers(base, structs, segment)
    sections = plan_sections(base, structs, segment, seg_vaddr + stub.debug_state_offset,
                             seg_offset + len(segment_bytes), read_symbol_table(base, structs))
    header = _elf_header(base, structs, entry=seg_vaddr + stub.entry_offset, shoff=sections.shoff,
                         shnum=sections.shnum, shstrndx=sections.shstrndx)

    appended = bytes(seg_offset - base.file_size) + segment_bytes + sections.data
    writes = (Write(0, header), Write(base.phoff, phdrs), Write(base.file_size, appended))
    return RewritePlan(keep=base.file_size, writes=writes, size=base.file_size + len(appended), segment=segment)


def _stub_segment(base: Executable, stub: StubBlob, candidates: tuple[str, ...],
                  flags: int) -> tuple[Segment, bytes]:
    """The PT_LOAD for the stub, appended at EOF above every segment, and its bytes."""
    loads = base.loads()
    align = max(max(s.align for s in loads), 1)
    seg_offset = align_up(base.file_size, SEGMENT_FILE_ALIGN)
    seg_vaddr = align_up(max(s.end for s in loads), align) + seg_offset % align
    config = StubConfig(entry=base.entry, dynamic=base.dynamic, candidates=candidates, flags=flags,
                        restore=RestoreRecord(original_size=base.file_size, header=base.header, phdrs=base.phdrs))
    segment_bytes = stub.code + config.pack(seg_vaddr + stub.config_offset, stub.config_offset, base.little_endian)
    if len(segment_bytes) > MAX_STUB_SEGMENT:  # read_executable would not recognise it
        raise UnsupportedError(base.path, f"the stub segment would be {len(segment_bytes)} bytes "
                                          f"(the record of {len(base.phdrs)} bytes of program headers "
                                          f"included), at most {MAX_STUB_SEGMENT}")
    segment = Segment(index=len(base.segments) - 1, type="PT_LOAD", flags=PF_R | PF_X, offset=seg_offset,
                      vaddr=seg_vaddr, filesz=len(segment_bytes), memsz=len(segment_bytes), align=align)
    return segment, segment_bytes


def _check_address_space(base: Executable, segment: Segment) -> None:
    if segment.end > 1 << base.elfclass:  # ELFCLASS32: addresses are 32 bits
        raise UnsupportedError(base.path, f"no room for the stub above the program's segments in a "
                                          f"{base.elfclass}-bit address space (it would end at {segment.end:#x})")


def plan_restore(exe: Executable) -> RewritePlan:
    """Plan giving back the original bytes of a patched file."""
    assert exe.patch is not None
    record = exe.patch.config.restore
    writes = (Write(0, record.header), Write(exe.phoff, record.phdrs))
    return RewritePlan(keep=record.original_size, writes=writes, size=record.original_size)


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


def _elf_header(base: Executable, structs, *, entry: int, shoff: int, shnum: int, shstrndx: int) -> bytes:
    header = structs.ehdr.parse(base.header)
    # e_shentsize: 0 in files that had no sections
    return structs.ehdr.build(header._replace(e_entry=entry, e_shoff=shoff, e_shnum=shnum, e_shstrndx=shstrndx,
                                              e_shentsize=structs.shdr.size))


def plan_working_restore(exe: Executable) -> RewritePlan:
    """Plan putting PT_INTERP back into a patched file that changed since (stripped,
    typically), whose original bytes are lost: the result runs with the system loader.

    `strip` keeps every segment's address and size but may move segments in the file,
    so the recorded PT_INTERP entry is re-pointed, by address, at where the path now is.
    The file keeps its size: the stub's bytes stay, no longer loaded, and its section
    loses SHF_ALLOC, so no tool takes it for part of the program's memory image."""
    patch = exe.patch
    assert patch is not None
    recorded, current = patch.original_segments, exe.segments
    interp = next((s for s in recorded if s.type == "PT_INTERP"), None)
    kept = [s for s in recorded if s.type != "PT_INTERP"]
    if interp is None or [_shape(s) for s in kept] != [_shape(s) for s in current[:-1]]:
        raise ModifiedError(exe.path, "changed beyond stripping since it was patched (its program headers "
                                      "no longer match the recorded ones): cannot restore")
    offset = file_offset(current[:-1], interp.vaddr, interp.filesz)
    if offset is None or patch.original_interp is None:
        raise ModifiedError(exe.path, "the original interpreter path is no longer in the file: cannot restore")
    structs, size = exe.layouts(), exe.phentsize
    entries = [exe.phdrs[i : i + size] for i in range(0, len(exe.phdrs) - size, size)]
    entry = structs.phdr.parse(patch.config.restore.phdrs, interp.index * size)
    entries.insert(interp.index, structs.phdr.build(entry._replace(p_offset=offset)))
    header = structs.ehdr.parse(exe.header)._replace(e_entry=patch.config.entry)
    writes = [Write(0, structs.ehdr.build(header)), Write(exe.phoff, b"".join(entries))]
    writes += _unload_stub_section(exe, structs, patch.segment)
    return RewritePlan(keep=exe.file_size, writes=tuple(writes), size=exe.file_size)


def _shape(segment: Segment) -> tuple:
    """What `strip` keeps of a program header entry: all but the file offset."""
    return segment.type, segment.flags, segment.vaddr, segment.filesz, segment.memsz, segment.align


def _unload_stub_section(exe: Executable, structs, segment: Segment) -> list[Write]:
    size = exe.shentsize
    for at in range(0, len(exe.section_headers), size):
        section = structs.shdr.parse(exe.section_headers, at)
        if (section.sh_offset, section.sh_size, section.sh_addr) == (segment.offset, segment.filesz, segment.vaddr):
            return [Write(exe.shoff + at, structs.shdr.build(section._replace(sh_flags=0, sh_addr=0)))]
    return []
