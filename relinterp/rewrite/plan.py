"""Pure planning: from an executable, a stub and loader candidates to the bytes to write.

The surgery (docs/how-it-works.md):
- the program header table keeps its place and its size: the PT_INTERP entry goes,
  later entries move up one, and one PT_LOAD (R+X) for the stub is added last;
- the stub, its config block and the restore record go right after the loaded part of
  the file, with no page padding, and what is not loaded (debug info, symbol tables,
  the section header table) moves after them, unchanged (layout.py); the new
  segment's address lies above every existing segment (past .bss), congruent with its
  file offset modulo the largest p_align, as the ELF spec requires;
- e_entry points at the stub;
- a new section header table, written at the end, tells tools what the file now is
  (sections.py): a section covers the segment, or `strip` would drop it, and a
  `_dl_debug_state` symbol lets gdb follow the loader.  The old table moves with the
  rest of the tail, untouched.
Nothing else in the file changes.  A loader embedded in the program (embed.py) goes
after the program's bytes, before the stub's segment; the program header table moves next
to it, the original one staying in place; that file keeps its tail where it was (the
stub at the end).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..elf.executable import MAX_STUB_SEGMENT
from ..elf.model import Executable, Segment
from ..elf.overlay import OverlayView
from ..elf.record import FLAG_EMBEDDED, RestoreRecord, StubConfig
from ..elf.structs import PF_R, PF_X, align_up
from ..errors import UnsupportedError
from . import embed
from .embed import Embedding, LoaderImage, load_entry
from .layout import Tail, moved_offset, tail_of
from .patchable import check_candidates, check_patchable
from .sections import NewSection, NewSymbol, SourceRange, plan_sections, read_symbol_table
from .stub import CODE_ALIGN, StubBlob

SEGMENT_FILE_ALIGN = CODE_ALIGN  # where the stub starts: no page padding is needed


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

    def result(self, stream) -> OverlayView:
        """The file applying the plan to the source open as `stream` gives, read without
        writing it: for plans that only rearrange the source's bytes (a restore), whose
        copies do not overlap what they copy."""
        assert all(w.offset + len(w.data) <= self.size for w in self.writes)
        return OverlayView(stream, self.size, {w.offset: w.data for w in self.writes},
                           {c.offset: (c.source, c.size) for c in self.copies})


def plan_patch(exe: Executable, stub: StubBlob | None, candidates: tuple[str, ...], *,
               flags: int = 0, facts: RestoreRecord | None = None, stub_at_end: bool = False,
               loader: LoaderImage | None = None, stream=None) -> RewritePlan:
    """Plan the patch of `exe` (of its recorded original, if it is patched already).
    `flags` records the candidates' provenance (record.FLAG_*); `facts` what the restore
    record says about the original besides its headers (restore_facts; None: nothing,
    as older versions wrote it); `stub_at_end`: the file laid out as before patches moved
    the tail (the stub appended at the end, its section last), to recognise such files;
    `loader`: the loader to embed instead of candidates (laid out so too); `stream`: the
    file as the run opened it, for what is read of it while planning (None: its path)."""
    base = exe.unpatched
    if base is None:
        raise ValueError(f"{exe.path}: the original of this patched file is unknown")
    stub = check_patchable(base, stub)
    if loader is None:
        check_candidates(exe.path, candidates)
    stub_at_end = stub_at_end or loader is not None
    structs = base.layouts()
    tail = None if stub_at_end else tail_of(base)
    embedding = None if loader is None else embed.place_loader(base, loader)
    segment, segment_bytes, tail_at = _stub_segment(base, stub, candidates, flags, _restore_record(base, facts), tail,
                                                    embedding)
    _check_address_space(base, segment.end)
    seg_end = segment.offset + segment.filesz
    tables = seg_end if tail is None else tail_at + tail.size
    source = _original_in(exe)  # where the original's bytes are in the file the plan is applied to
    added, symbols = _sections_and_symbols(embedding, structs)
    sections = plan_sections(base, structs, segment, segment.vaddr + stub.debug_state_offset, tables,
                             read_symbol_table(base, structs), appended=stub_at_end,
                             moved=None if tail is None else (tail.cut, tail_at - tail.cut), source=source,
                             added=added, symbols_added=symbols, stream=stream)
    phdrs = _program_headers(base, structs, segment) if embedding is None else \
        embed.kernel_table(base, structs, embedding, segment)
    header = _elf_header(base, structs, entry=segment.vaddr + stub.entry_offset, shoff=sections.shoff,
                         shnum=sections.shnum, shstrndx=sections.shstrndx,
                         phoff=base.phoff if embedding is None else embedding.tables_offset,
                         phnum=len(phdrs) // base.phentsize)
    keep = kept_prefix(exe, stub_at_end)
    if embedding is None:
        writes = [Write(0, header), Write(base.phoff, phdrs),
                  Write(keep, bytes(segment.offset - keep) + segment_bytes + bytes(tables - tail.size - seg_end if tail
                                                                                  else 0))]
    else:  # the original program headers stay where they were (a file patched before gets them back);
        # the gap before the tables stays a hole: nothing reads it
        writes = [Write(0, header), Write(base.phoff, base.phdrs),
                  Write(embedding.tables_offset, embed.appended_bytes(base, embedding, phdrs)
                        + bytes(segment.offset - embedding.file_end) + segment_bytes)]
    if tail is not None:
        copies = [Copy(tail_at, source(tail.cut), tail.size)]
    else:  # the original's tail, from where `exe` moved it (nothing to copy if it did not)
        copies = [Copy(keep, source(keep), base.file_size - keep)] if keep < base.file_size else []
    for at, piece in sections.pieces:
        if isinstance(piece, SourceRange):
            copies.append(Copy(at, source(piece.offset), piece.size))
        elif writes[-1].offset + len(writes[-1].data) == at:  # one write for adjacent bytes
            writes[-1] = Write(writes[-1].offset, writes[-1].data + piece)
        else:
            writes.append(Write(at, piece))
    return RewritePlan(keep=keep, writes=tuple(writes), size=sections.end, segment=segment, copies=tuple(copies),
                       phdrs=phdrs)


def _sections_and_symbols(embedding: Embedding | None, structs) -> tuple[list[NewSection], list[NewSymbol] | None]:
    """With an embedded loader, what tools are told of it besides the stub's section:
    sections over the loader and its table, and the loader's symbols (its
    `_dl_debug_state` among them, where gdb then breaks directly) instead of the stub's
    debug hook.  ([], None) without one."""
    if embedding is None:
        return [], None
    added = embed.loader_sections(embedding)
    symbols = []
    for name, sym in embed.loader_symbols(embedding, structs):
        index = next((i for i, a in enumerate(added) if a.addr <= sym.st_value < a.addr + a.size), None)
        if index is not None:
            symbols.append(NewSymbol(name, sym.st_value, sym.st_size, sym.st_info, index + 1))  # 0: the stub's
    return added, symbols


def kept_prefix(exe: Executable, stub_at_end: bool = False) -> int:
    """How many of the original's first bytes the file patching `exe` starts with, as they
    are in `exe`: up to the tail the patch moves (layout.py), or all of them, but not past
    a tail `exe` itself moved (a patched file: the bytes there are the stub's)."""
    base = exe.unpatched
    tail = None if stub_at_end else tail_of(base)
    keep = base.file_size if tail is None else tail.cut
    moved_from = None if exe.patch is None else exe.patch.config.restore.moved_from
    return keep if moved_from is None else min(keep, moved_from)


def _original_in(exe: Executable):
    """offset -> where the byte of the original at that offset is in `exe`'s file (which
    is the original itself, or a patched file that moved the original's tail)."""
    record = None if exe.patch is None else exe.patch.config.restore
    moved = (None, None) if record is None else (record.moved_from, record.moved_to)
    return lambda offset: moved_offset(offset, *moved)


def restore_facts(base: Executable, sha256: bytes) -> RestoreRecord:
    """The facts to record about the original `base` whose digest is `sha256`."""
    return RestoreRecord(original_size=base.file_size, header=base.header, phdrs=base.phdrs, sha256=sha256,
                         interp=base.interp, needed=base.needed, runpath=base.runpath, rpath=base.rpath)


def _restore_record(base: Executable, facts: RestoreRecord | None) -> RestoreRecord:
    record = RestoreRecord(original_size=base.file_size, header=base.header, phdrs=base.phdrs)
    return record if facts is None else replace(facts, original_size=base.file_size, header=base.header,
                                                phdrs=base.phdrs, moved_from=None, moved_to=None)


def _stub_segment(base: Executable, stub: StubBlob, candidates: tuple[str, ...], flags: int,
                  restore: RestoreRecord, tail: Tail | None,
                  embedding: Embedding | None = None) -> tuple[Segment, bytes, int | None]:
    """The PT_LOAD for the stub, after the loaded part of the file (before `tail`, which
    moves after it; after an embedded loader) and above every segment in memory; its
    bytes; where the tail goes."""
    loads = base.loads() + (embedding.loads if embedding else [])
    align = max(max(s.align for s in loads), 1)
    start = embedding.file_end if embedding else base.file_size if tail is None else tail.cut
    seg_offset = align_up(start, SEGMENT_FILE_ALIGN)
    seg_vaddr = align_up(max(s.end for s in loads), align) + seg_offset % align
    _check_address_space(base, seg_vaddr + len(stub.code))  # before anything is packed at that address
    embedded = None if embedding is None else embedding.record()

    def pack(record: RestoreRecord) -> bytes:
        config = StubConfig(entry=base.entry, dynamic=base.dynamic, candidates=candidates,
                            flags=flags | (FLAG_EMBEDDED if embedded else 0), restore=record, embedded=embedded)
        return stub.code + config.pack(seg_vaddr + stub.config_offset, stub.config_offset, base.little_endian)

    tail_at = None
    segment_bytes = pack(restore)
    if tail is not None:  # where the tail goes depends on the segment's size, which its record's does not
        tail_at = tail.placed_after(seg_offset + len(pack(replace(restore, moved_from=tail.cut, moved_to=0))))
        segment_bytes = pack(replace(restore, moved_from=tail.cut, moved_to=tail_at))
    if len(segment_bytes) > MAX_STUB_SEGMENT:  # read_executable would not recognise it
        raise UnsupportedError(base.path, f"the stub segment would be {len(segment_bytes)} bytes "
                                          f"(the record of {len(base.phdrs)} bytes of program headers "
                                          f"included), at most {MAX_STUB_SEGMENT}")
    segment = Segment(index=len(base.segments) - 1, type="PT_LOAD", flags=PF_R | PF_X, offset=seg_offset,
                      vaddr=seg_vaddr, filesz=len(segment_bytes), memsz=len(segment_bytes), align=align)
    return segment, segment_bytes, tail_at


def _check_address_space(base: Executable, end: int) -> None:
    if end > 1 << base.elfclass:  # ELFCLASS32: addresses are 32 bits
        raise UnsupportedError(base.path, f"no room for the stub above the program's segments in a "
                                          f"{base.elfclass}-bit address space (it would end at {end:#x})")


def _program_headers(base: Executable, structs, segment: Segment) -> bytes:
    size = base.phentsize
    entries = [base.phdrs[i : i + size] for i in range(0, len(base.phdrs), size)]
    interp = next(s.index for s in base.segments if s.type == "PT_INTERP")
    del entries[interp]
    entries.append(structs.phdr.build(load_entry(segment)))
    return b"".join(entries)


def _elf_header(base: Executable, structs, *, entry: int, shoff: int, shnum: int, shstrndx: int, phoff: int,
                phnum: int) -> bytes:
    header = structs.ehdr.parse(base.header)
    # e_shentsize: 0 in files that had no sections
    return structs.ehdr.build(header._replace(e_entry=entry, e_shoff=shoff, e_shnum=shnum, e_shstrndx=shstrndx,
                                              e_shentsize=structs.shdr.size, e_phoff=phoff, e_phnum=phnum))

