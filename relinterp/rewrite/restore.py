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

from ..elf.model import Executable, Segment, file_offset, read_at
from ..elf.structs import PF_R, PT_INTERP, Phdr
from ..errors import ModifiedError
from .plan import RewritePlan, Write

FIND_CHUNK = 1 << 20


def plan_restore(exe: Executable) -> RewritePlan:
    """Plan giving back the original bytes of a patched file that did not change since."""
    assert exe.patch is not None
    record = exe.patch.config.restore
    phoff = exe.layouts().ehdr.parse(record.header).e_phoff  # an embedded loader's patch moved the table
    writes = (Write(0, record.header), Write(phoff, record.phdrs))
    return RewritePlan(keep=record.original_size, writes=writes, size=record.original_size)


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
    others = [s for s in exe.loads() if s is not patch.segment]
    if file_offset(others, patch.config.entry, 1) is None:
        raise ModifiedError(exe.path, f"the original entry point {patch.config.entry:#x} is in no segment any "
                                      "more: cannot restore")
    raw = os.fsencode(patch.original_interp) + b"\0"
    vaddr = _find_in_memory_image(exe, others, raw, patch.original_segments)
    if vaddr is None:
        raise ModifiedError(exe.path, f"the original interpreter path {patch.original_interp} is no longer in "
                                      "the program's memory image: cannot restore")
    structs, size = exe.layouts(), exe.phentsize
    entries = [exe.phdrs[i : i + size] for i in range(0, len(exe.phdrs), size)]
    del entries[patch.segment.index]
    at = next((i + 1 for i, s in enumerate(s for s in exe.segments if s is not patch.segment)
               if s.type == "PT_PHDR"), 0)
    offset = file_offset(others, vaddr, len(raw))
    entries.insert(at, structs.phdr.build(Phdr(
        p_type=PT_INTERP, p_flags=PF_R, p_offset=offset, p_vaddr=vaddr, p_paddr=vaddr,
        p_filesz=len(raw), p_memsz=len(raw), p_align=1)))
    header = structs.ehdr.parse(exe.header)._replace(e_entry=patch.config.entry)
    writes = [Write(0, structs.ehdr.build(header)), Write(exe.phoff, b"".join(entries))]
    writes += _unload_stub_section(exe, structs, patch.segment)
    return RewritePlan(keep=exe.file_size, writes=tuple(writes), size=exe.file_size)


def _find_in_memory_image(exe: Executable, loads: list[Segment], raw: bytes,
                          recorded: tuple[Segment, ...]) -> int | None:
    """The address of `raw` in the loaded part of the file: where the original PT_INTERP
    was, if the bytes are still there (`strip` moves them in the file, not in memory),
    else wherever a tool moved them (patchelf moves the `.interp` contents)."""
    interp = next((s for s in recorded if s.type == "PT_INTERP"), None)
    with open(exe.path, "rb") as stream:
        if interp is not None:
            offset = file_offset(loads, interp.vaddr, len(raw))
            if offset is not None and read_at(stream, offset, len(raw)) == raw:
                return interp.vaddr
        for segment in loads:
            found = _find_in_file(stream, raw, segment.offset, segment.filesz)
            if found is not None:
                return segment.vaddr + found
    return None


def _find_in_file(stream, raw: bytes, start: int, size: int) -> int | None:
    """Where `raw` first is among the `size` bytes at `start`, relative to `start`; read a
    chunk at a time (consecutive chunks overlap by len(raw) - 1), so that memory stays
    bounded whatever the segment's size."""
    at = 0
    while at < size:
        chunk = read_at(stream, start + at, min(FIND_CHUNK + len(raw) - 1, size - at))
        found = chunk.find(raw)
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
