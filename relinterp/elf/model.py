"""The read-only model of an ELF file: what relinterp needs to know of it, for patching,
bundling and verifying alike, read once (by relinterp.elf.executable).

Works for both ELF classes and byte orders.  Program headers, not section names, are
the source of truth (PT_INTERP, PT_DYNAMIC), so stripped files read the same.  Only the
headers, the dynamic entries and relinterp's own record are read, through the standard
library's `struct` (relinterp.elf.structs): a small file reads in well under a
millisecond.  A file relinterp patched carries a record of its original headers;
`read_executable` models that original too.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from ..errors import MalformedElfError, NotElfError, UnsupportedError
from .bounds import check_program_table, check_section_table, check_segments
from .dynamic import DynamicInfo, read_dynamic
from .image import MemoryImage
from .record import StubConfig
from .regular import open_regular
from .structs import (EI_NIDENT, ELF_MAGIC, ELFCLASS, ELFDATA, SHT_NOBITS, ElfLayouts, elf_type_name, layouts,
                      machine_name, segment_type_name)

PATH_MAX = 4096  # the kernel's bound on PT_INTERP
MAX_SECTION_NAMES = 1 << 20  # .shstrtab is read whole, to be rewritten with one name more


@dataclass(frozen=True)
class Segment:
    """One program header entry."""

    index: int
    type: str | int  # pyelftools' name ('PT_LOAD'), or the number when it has none
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int
    align: int

    @property
    def end(self) -> int:
        return self.vaddr + self.memsz

    def covers_file_range(self, start: int, size: int) -> bool:
        return self.offset <= start and start + size <= self.offset + self.filesz


@dataclass(frozen=True)
class Executable:
    """An ELF file as relinterp sees it: headers, raw where they will be rewritten."""

    path: str
    file_size: int
    elfclass: int  # 32 or 64
    little_endian: bool
    machine: str | int  # pyelftools' name, e.g. 'EM_X86_64'
    elf_type: str | int  # 'ET_EXEC', 'ET_DYN', ...
    entry: int
    header: bytes  # the ELF header, e_ehsize bytes
    phoff: int
    phentsize: int
    phdrs: bytes  # the program header table
    segments: tuple[Segment, ...]
    shoff: int
    shentsize: int
    shstrndx: int
    section_headers: bytes  # the section header table, empty if there is none
    section_names: bytes  # contents of the section name table (.shstrtab)
    interp: str | None  # PT_INTERP
    dynamic: int  # p_vaddr of PT_DYNAMIC, 0 if none
    has_dynamic: bool  # it has a PT_DYNAMIC segment
    pie: bool  # DT_FLAGS_1 has DF_1_PIE
    nodeflib: bool  # DT_FLAGS_1 has DF_1_NODEFLIB
    needed: tuple[str, ...]  # DT_NEEDED, in order
    soname: str | None  # DT_SONAME
    runpath: str | None  # DT_RUNPATH, as written
    rpath: str | None  # DT_RPATH, as written
    relr: bool  # uses DT_RELR packed relocations
    patch: Patch | None  # set when relinterp patched this file

    @property
    def shnum(self) -> int:
        return len(self.section_headers) // self.shentsize if self.shentsize else 0

    @property
    def unpatched(self) -> Executable | None:
        """This executable as it was before relinterp patched it (itself if it is not
        patched); None when the file changed since, so that can no longer be told."""
        return self if self.patch is None else self.patch.original

    @property
    def abi(self) -> tuple[str | int, int, bool]:
        """What must match between a program, its libraries and its loader."""
        return (self.machine, self.elfclass, self.little_endian)

    def loads(self) -> list[Segment]:
        return [s for s in self.segments if s.type == "PT_LOAD"]

    def memory_image(self, leave_out: Segment | None = None) -> MemoryImage:
        """The memory its PT_LOADs make, as the loader reads it (without `leave_out`)."""
        return MemoryImage(s for s in self.loads() if s is not leave_out)

    def layouts(self) -> ElfLayouts:
        """The record layouts of this file's class and byte order."""
        return layouts(self.elfclass, self.little_endian)


@dataclass(frozen=True)
class Patch:
    """What relinterp appended to a patched file."""

    segment: Segment
    stub_code: bytes
    config: StubConfig
    # The input as it was before the patch; None when the file changed since (stripped,
    # say) so that the recorded headers no longer describe it.
    original: Executable | None
    original_segments: tuple[Segment, ...]  # the recorded program header table
    original_interp: str | None  # the PT_INTERP path the patch removed, None if not found


def elf_ident(path: str) -> tuple[str | int, int, bool] | None:
    """(machine, class, little-endian) from the first bytes of a file; None when it is
    not an ELF file (or cannot be read)."""
    try:
        with open_regular(path) as stream:
            head = stream.read(EI_NIDENT + 4)
    except OSError:
        return None
    if len(head) < EI_NIDENT + 4 or head[:4] != ELF_MAGIC or head[4] not in ELFCLASS or head[5] not in ELFDATA:
        return None
    little = ELFDATA[head[5]]
    number = int.from_bytes(head[EI_NIDENT + 2 : EI_NIDENT + 4], "little" if little else "big")
    return (machine_name(number), ELFCLASS[head[4]], little)


def read_model(path: str, stream, size: int) -> Executable:
    """The model of the file open as `stream` (`size` bytes long), its `patch` unset."""
    ident = stream.read(EI_NIDENT)
    if len(ident) < 4 or ident[:4] != ELF_MAGIC:
        raise NotElfError(path, "not an ELF file")
    if len(ident) < EI_NIDENT:
        raise MalformedElfError(path, f"truncated ELF header (file is {size} bytes)")
    if ident[4] not in ELFCLASS:
        raise MalformedElfError(path, f"invalid ELF class (EI_CLASS={ident[4]})")
    if ident[5] not in ELFDATA:
        raise MalformedElfError(path, f"invalid byte order (EI_DATA={ident[5]})")
    records = layouts(ELFCLASS[ident[4]], ELFDATA[ident[5]])
    if size < records.ehdr.size:
        raise MalformedElfError(path, f"truncated ELF header (file is {size} bytes)")
    try:
        header = read_at(stream, 0, records.ehdr.size)
        return _model(path, stream, size, header, records)
    except (struct.error, ValueError, KeyError) as error:
        raise MalformedElfError(path, f"invalid ELF headers ({error})") from None


def read_at(stream, offset: int, size: int) -> bytes:
    """`size` bytes (fewer at EOF) at `offset` of the open file `stream`."""
    stream.seek(offset)
    return stream.read(size)


def _model(path: str, stream, size: int, header: bytes, records: ElfLayouts) -> Executable:
    h = records.ehdr.parse(header)
    machine = machine_name(h.e_machine)
    check_program_table(path, h, size, len(header), records.phdr.size)
    phdrs = read_at(stream, h.e_phoff, h.e_phnum * records.phdr.size)
    segments = parse_segments(records, phdrs, machine)
    check_segments(path, segments, size, records.elfclass)
    check_section_table(path, h, size, records.shdr.size)
    section_headers = read_at(stream, h.e_shoff, h.e_shnum * records.shdr.size) if h.e_shnum else b""
    interp = _interp(path, stream, segments)
    dynamic = next((s for s in segments if s.type == "PT_DYNAMIC"), None)
    image = MemoryImage(s for s in segments if s.type == "PT_LOAD")
    info = DynamicInfo() if dynamic is None else read_dynamic(path, stream, records, dynamic, image)
    return Executable(
        path=path, file_size=size, elfclass=records.elfclass, little_endian=records.little_endian,
        machine=machine, elf_type=elf_type_name(h.e_type), entry=h.e_entry, header=header,
        phoff=h.e_phoff, phentsize=records.phdr.size, phdrs=phdrs, segments=segments,
        shoff=h.e_shoff, shentsize=records.shdr.size, shstrndx=h.e_shstrndx, section_headers=section_headers,
        section_names=_section_names(path, stream, records, section_headers, h.e_shstrndx, size),
        interp=interp, dynamic=0 if dynamic is None else dynamic.vaddr, has_dynamic=dynamic is not None,
        pie=info.pie, nodeflib=info.nodeflib, needed=info.needed, soname=info.soname, runpath=info.runpath,
        rpath=info.rpath, relr=info.relr, patch=None,
    )


def _interp(path: str, stream, segments: tuple[Segment, ...]) -> str | None:
    """PT_INTERP's path, checked as the kernel checks it before running the file
    (binfmt_elf): 2 to PATH_MAX bytes, the last one a NUL."""
    segment = next((s for s in segments if s.type == "PT_INTERP"), None)
    if segment is None:
        return None
    if not 2 <= segment.filesz <= PATH_MAX:
        raise MalformedElfError(path, f"PT_INTERP is {segment.filesz} bytes long: not a path "
                                      f"(2 to {PATH_MAX} bytes with its NUL)")
    raw = read_at(stream, segment.offset, segment.filesz)
    if not raw.endswith(b"\0"):
        raise MalformedElfError(path, "PT_INTERP is not a NUL-terminated path")
    return os.fsdecode(raw.split(b"\0")[0])


def _section_names(path: str, stream, records: ElfLayouts, section_headers: bytes, shstrndx: int,
                   size: int) -> bytes:
    """The contents of the section name table (.shstrtab), if the file has one."""
    if shstrndx >= len(section_headers) // records.shdr.size:
        return b""
    names = records.shdr.parse(section_headers, shstrndx * records.shdr.size)
    if names.sh_offset + names.sh_size > size or names.sh_type == SHT_NOBITS:
        return b""
    if names.sh_size > MAX_SECTION_NAMES:
        raise UnsupportedError(path, f"section name table of {names.sh_size} bytes, at most {MAX_SECTION_NAMES}")
    return read_at(stream, names.sh_offset, names.sh_size)


def parse_segments(records: ElfLayouts, phdrs: bytes, machine: str | int) -> tuple[Segment, ...]:
    """The entries of a program header table (the file's, or one recorded by a patch)."""
    return tuple(Segment(index=i, type=segment_type_name(p.p_type, machine), flags=p.p_flags, offset=p.p_offset,
                         vaddr=p.p_vaddr, filesz=p.p_filesz, memsz=p.p_memsz, align=p.p_align)
                 for i, p in enumerate(records.phdr.parse_all(phdrs)))

