"""Planning the way back: from a patched file to its original, or to a working file
with PT_INTERP when the original bytes are lost.

A patched file that nothing touched since gives back its original exactly: the recorded
ELF header and program header table over its first `original_size` bytes.  Whether the
result *is* the original is not assumed: the digest recorded at patch time decides it
(relinterp.rewrite.digest).

Tools run after patching change more than bytes: `strip` moves segments in the file,
patchelf adds a PT_LOAD of its own, reorders the table and moves PT_DYNAMIC and the
strings.  The working restore therefore starts from the table as it is now: it drops
the stub's PT_LOAD, wherever it sits, puts a PT_INTERP entry in its place (after
PT_PHDR, as the ELF spec wants it before any PT_LOAD) pointing at the original
interpreter path wherever it lies in the program's memory image, and gives e_entry back.
"""

from __future__ import annotations

import os

from ..elf.image import MemoryImage
from ..elf.model import Executable, Segment, read_at, read_model
from ..elf.regular import reading
from ..elf.structs import PF_R, PT_INTERP, Phdr
from ..errors import ModifiedError, RelinterpError
from .plan import Copy, RewritePlan, Write

FIND_CHUNK = 1 << 20


def plan_restore(exe: Executable) -> RewritePlan:
    """Plan giving back the original bytes of a patched file that did not change since:
    its first bytes, the tail the patch moved after the stub put back (layout.py)."""
    assert exe.patch is not None
    record = exe.patch.config.restore
    phoff = exe.layouts().ehdr.parse(record.header).e_phoff  # an embedded loader's patch moved the table
    writes = (Write(0, record.header), Write(phoff, record.phdrs))
    if record.moved_from is None:
        return RewritePlan(keep=record.original_size, writes=writes, size=record.original_size)
    return RewritePlan(keep=record.moved_from, writes=writes, size=record.original_size,
                       copies=(Copy(record.moved_from, record.moved_to, record.original_size - record.moved_from),))


def restored_model(exe: Executable, plan: RewritePlan, source, *, working: bool) -> Executable:
    """The file a restore plan gives, read from `source` (the patched file, open, or its
    path) before anything is written: a result relinterp itself would refuse to read (a
    tampered record, an odd layout) is refused here, so the input stays as it is and no
    output is made.  A working restore must give the program its original interpreter
    back."""
    assert exe.patch is not None
    try:
        with reading(source) as stream:
            result = read_model(exe.path, plan.result(stream), plan.size)
    except RelinterpError as error:
        raise ModifiedError(exe.path, f"cannot restore: the result would not be a valid program "
                                      f"({error.reason})") from None
    except OSError as error:
        raise ModifiedError(exe.path, f"cannot restore: cannot read ({error.strerror})") from None
    if working and result.interp != exe.patch.original_interp:
        raise ModifiedError(exe.path, f"cannot restore: the result's PT_INTERP would be {result.interp!r}, "
                                      f"not the original {exe.patch.original_interp!r}")
    return result


def plan_working_restore(exe: Executable) -> RewritePlan:
    """Plan putting PT_INTERP back into a patched file that changed since (stripped, or
    rewritten by patchelf), whose original bytes are lost: the result runs with the
    system loader.  The file keeps its size: the stub's bytes stay, no longer loaded, and
    its section loses SHF_ALLOC, so no tool takes it for part of the memory image."""
    patch = exe.patch
    assert patch is not None
    if patch.original_interp is None:
        raise ModifiedError(exe.path, "the original interpreter path is not recorded and no longer where it "
                                      "was: cannot restore")
    if not patch.original_interp:
        raise ModifiedError(exe.path, "the original interpreter path is empty (its first byte is NUL), which the "
                                      "kernel cannot load: no working file can be made, and the original bytes "
                                      "are lost: cannot restore")
    image = exe.memory_image(leave_out=patch.segment)
    if image.file_range(patch.config.entry, 1) is None:
        raise ModifiedError(exe.path, f"the original entry point {patch.config.entry:#x} is in no segment any "
                                      "more: cannot restore")
    structs = exe.layouts()
    header = structs.ehdr.parse(exe.header)._replace(e_entry=patch.config.entry)
    writes = [Write(0, structs.ehdr.build(header)), Write(exe.phoff, b"")]
    writes += _unload_stub_section(exe, structs, patch.segment)
    raw = os.fsencode(patch.original_interp) + b"\0"
    vaddr = _find_in_memory_image(exe, image, raw, patch.original_segments, writes)
    if vaddr is None:
        raise ModifiedError(exe.path, f"the original interpreter path {patch.original_interp} is no longer in "
                                      "the program's memory image: cannot restore")
    writes[1] = Write(exe.phoff, _program_headers(exe, structs, patch.segment, vaddr,
                                                 image.file_range(vaddr, len(raw)), len(raw)))
    return RewritePlan(keep=exe.file_size, writes=tuple(writes), size=exe.file_size)


def _program_headers(exe: Executable, structs, stub: Segment, vaddr: int, offset: int, size: int) -> bytes:
    """The table without the stub's PT_LOAD, with a PT_INTERP for the `size` bytes at
    `vaddr` (file `offset`) after PT_PHDR, as the ELF spec wants it before any PT_LOAD."""
    entries = [exe.phdrs[i : i + exe.phentsize] for i in range(0, len(exe.phdrs), exe.phentsize)]
    del entries[stub.index]
    at = next((i + 1 for i, s in enumerate(s for s in exe.segments if s is not stub) if s.type == "PT_PHDR"), 0)
    entries.insert(at, structs.phdr.build(Phdr(
        p_type=PT_INTERP, p_flags=PF_R, p_offset=offset, p_vaddr=vaddr, p_paddr=vaddr,
        p_filesz=size, p_memsz=size, p_align=1)))
    return b"".join(entries)


def _find_in_memory_image(exe: Executable, image: MemoryImage, raw: bytes, recorded: tuple[Segment, ...],
                          writes: list[Write]) -> int | None:
    """The address of `raw` in the loaded part of the file: where the original PT_INTERP
    was, if the bytes are still there (`strip` moves them in the file, not in memory),
    else wherever a tool moved them (patchelf moves the `.interp` contents).  Bytes the
    restore itself rewrites (the ELF header, the program header table, a section header)
    do not count: they would no longer hold the path once it is written."""
    rewritten = [(w.offset, w.offset + (len(w.data) if w.offset != exe.phoff else len(exe.phdrs))) for w in writes]
    interp = next((s for s in recorded if s.type == "PT_INTERP"), None)
    with open(exe.path, "rb") as stream:
        if interp is not None:
            offset = image.file_range(interp.vaddr, len(raw))
            if offset is not None and not _overlaps(offset, len(raw), rewritten) \
                    and read_at(stream, offset, len(raw)) == raw:
                return interp.vaddr
        for run in image.file_runs():
            found = _find_in_file(stream, raw, run.offset, run.size, rewritten)
            if found is not None:
                return run.vaddr + found
    return None


def _overlaps(offset: int, size: int, ranges: list[tuple[int, int]]) -> bool:
    return any(offset < end and start < offset + size for start, end in ranges)


def _find_in_file(stream, raw: bytes, start: int, size: int, avoid: list[tuple[int, int]]) -> int | None:
    """Where `raw` first is among the `size` bytes at `start`, relative to `start`, outside
    the file ranges `avoid`; read a chunk at a time (consecutive chunks overlap by
    len(raw) - 1), so that memory stays bounded whatever the segment's size."""
    at = 0
    while at < size:
        chunk = read_at(stream, start + at, min(FIND_CHUNK + len(raw) - 1, size - at))
        found = chunk.find(raw)
        while found >= 0 and _overlaps(start + at + found, len(raw), avoid):
            found = chunk.find(raw, found + 1)
        if found >= 0:
            return at + found
        if len(chunk) < len(raw):
            return None
        at += FIND_CHUNK
    return None


def _unload_stub_section(exe: Executable, structs, segment: Segment) -> list[Write]:
    size = exe.shentsize
    for at in range(0, len(exe.section_headers), size):
        section = structs.shdr.parse(exe.section_headers, at)
        if (section.sh_offset, section.sh_size, section.sh_addr) == (segment.offset, segment.filesz, segment.vaddr):
            return [Write(exe.shoff + at, structs.shdr.build(section._replace(sh_flags=0, sh_addr=0)))]
    return []
