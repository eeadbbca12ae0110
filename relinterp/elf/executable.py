"""A read-only model of an executable: what relinterp needs to know, parsed with
pyelftools' struct definitions.

Works for both ELF classes and byte orders.  Program headers, not section names, are
the source of truth (PT_INTERP, PT_DYNAMIC), so stripped files read the same.  Only the
headers, the dynamic entries and relinterp's own record are read: not pyelftools'
ELFFile, which builds every section object and costs more than the patch itself.  A file
relinterp patched carries a record of its original headers; `read_executable` models
that original too, from the record laid over the file (see relinterp.overlay).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from functools import lru_cache

from elftools.construct import ConstructError
from elftools.elf.structs import ELFStructs

from .bounds import check_program_table, check_section_table, check_segments
from ..rewrite.config import CONFIG_SCHEMA, TRAILER_MAGIC, StubConfig, trailer_size, trailer_struct
from .dynamic import DynamicInfo, read_dynamic
from .overlay import OverlayView
from ..errors import MalformedElfError, NotElfError, ReadError, RelinterpError, UnsupportedError

ELF_MAGIC = b"\x7fELF"
MAX_STUB_SEGMENT = 1 << 20  # larger segments are the program's own, not a stub's


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

    def file_offset_of(self, vaddr: int, size: int) -> int | None:
        """Where the `size` bytes at address `vaddr` are in the file, if this segment maps them."""
        if self.vaddr <= vaddr and vaddr + size <= self.vaddr + self.filesz:
            return self.offset + vaddr - self.vaddr
        return None


@dataclass(frozen=True)
class Executable:
    """An ELF file as relinterp sees it: headers, raw where they will be rewritten."""

    path: str
    file_size: int
    elfclass: int  # 32 or 64
    little_endian: bool
    machine: str  # pyelftools' name, e.g. 'EM_X86_64'
    elf_type: str  # 'ET_EXEC', 'ET_DYN', ...
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
    pie: bool  # DT_FLAGS_1 has DF_1_PIE
    needed: tuple[str, ...]  # DT_NEEDED, in order
    runpath: str | None  # DT_RUNPATH, as written
    rpath: str | None  # DT_RPATH, as written
    patch: Patch | None  # set when relinterp patched this file

    @property
    def shnum(self) -> int:
        return len(self.section_headers) // self.shentsize if self.shentsize else 0

    @property
    def unpatched(self) -> Executable | None:
        """This executable as it was before relinterp patched it (itself if it is not
        patched); None when the file changed since, so that can no longer be told."""
        return self if self.patch is None else self.patch.original

    def loads(self) -> list[Segment]:
        return [s for s in self.segments if s.type == "PT_LOAD"]

    def structs(self) -> ELFStructs:
        """pyelftools' struct definitions for this file's class, byte order and machine."""
        return elf_structs(self.little_endian, self.elfclass, self.elf_type, self.machine)


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


def read_executable(path: str | os.PathLike[str]) -> Executable:
    path = os.fspath(path)
    try:
        with open(path, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            return _read(path, stream, size, find_patch=True)
    except OSError as error:
        raise ReadError(path, f"cannot read ({error.strerror})") from None


@lru_cache(maxsize=None)
def elf_structs(little_endian: bool, elfclass: int, elf_type: str | None = None,
                machine: str | None = None) -> ELFStructs:
    """pyelftools' struct definitions, built once per class, byte order, type and machine
    (building them costs more than reading a small file's headers)."""
    structs = ELFStructs(little_endian, elfclass)
    structs.create_basic_structs()
    if elf_type is not None:
        structs.create_advanced_structs(elf_type, machine, None)
    return structs


def _read(path: str, stream, size: int, *, find_patch: bool) -> Executable:
    ident = stream.read(16)
    if len(ident) < 4 or ident[:4] != ELF_MAGIC:
        raise NotElfError(path, "not an ELF file")
    if len(ident) < 16:
        raise MalformedElfError(path, f"truncated ELF header (file is {size} bytes)")
    if ident[4] not in (1, 2):
        raise MalformedElfError(path, f"invalid ELF class (EI_CLASS={ident[4]})")
    if ident[5] not in (1, 2):
        raise MalformedElfError(path, f"invalid byte order (EI_DATA={ident[5]})")
    basic = elf_structs(ident[5] == 1, 64 if ident[4] == 2 else 32)
    if size < basic.Elf_Ehdr.sizeof():
        raise MalformedElfError(path, f"truncated ELF header (file is {size} bytes)")
    try:
        header = _pread(stream, 0, basic.Elf_Ehdr.sizeof())
        return _model(path, stream, size, header, basic.Elf_Ehdr.parse(header), find_patch)
    except (ConstructError, ValueError, KeyError) as error:
        raise MalformedElfError(path, f"invalid ELF headers ({error})") from None


def _pread(stream, offset: int, size: int) -> bytes:
    stream.seek(offset)
    return stream.read(size)


def _model(path: str, stream, size: int, header: bytes, h, find_patch: bool) -> Executable:
    little_endian, elfclass = header[5] == 1, 64 if header[4] == 2 else 32
    structs = elf_structs(little_endian, elfclass, h.e_type, h.e_machine)
    phentsize, shentsize = structs.Elf_Phdr.sizeof(), structs.Elf_Shdr.sizeof()
    check_program_table(path, h, size, len(header), phentsize)
    phdrs = _pread(stream, h.e_phoff, h.e_phnum * phentsize)
    segments = parse_segments(structs, phdrs)
    check_segments(path, segments, size)
    check_section_table(path, h, size, shentsize)
    section_headers = _pread(stream, h.e_shoff, h.e_shnum * shentsize) if h.e_shnum else b""
    section_names = _section_names(stream, structs, section_headers, h.e_shstrndx, size)
    interp = next((os.fsdecode(_pread(stream, s.offset, s.filesz).split(b"\0")[0])
                   for s in segments if s.type == "PT_INTERP"), None)
    dynamic = next((s for s in segments if s.type == "PT_DYNAMIC"), None)
    loads = [s for s in segments if s.type == "PT_LOAD"]
    info = DynamicInfo() if dynamic is None else \
        read_dynamic(stream, structs, dynamic, lambda vaddr, n: file_offset(loads, vaddr, n))

    exe = Executable(
        path=path,
        file_size=size,
        elfclass=elfclass,
        little_endian=little_endian,
        machine=h.e_machine,
        elf_type=h.e_type,
        entry=h.e_entry,
        header=header,
        phoff=h.e_phoff,
        phentsize=phentsize,
        phdrs=phdrs,
        segments=segments,
        shoff=h.e_shoff,
        shentsize=shentsize,
        shstrndx=h.e_shstrndx,
        section_headers=section_headers,
        section_names=section_names,
        interp=interp,
        dynamic=0 if dynamic is None else dynamic.vaddr,
        pie=info.pie,
        needed=info.needed,
        runpath=info.runpath,
        rpath=info.rpath,
        patch=None,
    )
    if find_patch and interp is None:
        patch = _read_patch(exe, stream)
        if patch is not None:
            return replace(exe, patch=patch)
    return exe


def _section_names(stream, structs: ELFStructs, section_headers: bytes, shstrndx: int, size: int) -> bytes:
    """The contents of the section name table (.shstrtab), if the file has one."""
    shentsize = structs.Elf_Shdr.sizeof()
    if shstrndx >= len(section_headers) // shentsize:
        return b""
    names = structs.Elf_Shdr.parse(section_headers[shstrndx * shentsize :])
    if names.sh_offset + names.sh_size > size or names.sh_type == "SHT_NOBITS":
        return b""
    return _pread(stream, names.sh_offset, names.sh_size)


def parse_segments(structs: ELFStructs, phdrs: bytes) -> tuple[Segment, ...]:
    """The entries of a program header table (the file's, or one recorded by a patch)."""
    size = structs.Elf_Phdr.sizeof()
    return tuple(_segment(i, structs.Elf_Phdr.parse(phdrs[i * size : (i + 1) * size]))
                 for i in range(len(phdrs) // size))


def _segment(index: int, header) -> Segment:
    return Segment(
        index=index,
        type=header.p_type,
        flags=header.p_flags,
        offset=header.p_offset,
        vaddr=header.p_vaddr,
        filesz=header.p_filesz,
        memsz=header.p_memsz,
        align=header.p_align,
    )


def stub_segment(exe: Executable, stream) -> Segment | None:
    """The PT_LOAD holding relinterp's stub: the one whose bytes end with its trailer.
    It is the last entry as the patch wrote it, but a later tool may add entries after
    it or reorder the table (patchelf does), so every PT_LOAD is looked at, the one
    holding e_entry first."""
    tsize = trailer_size()
    loads = sorted(exe.loads(), key=lambda s: not s.vaddr <= exe.entry < s.vaddr + s.filesz)
    for segment in loads:
        if tsize <= segment.filesz <= MAX_STUB_SEGMENT and segment.offset + segment.filesz <= exe.file_size:
            if _pread(stream, segment.offset + segment.filesz - tsize, tsize)[:len(TRAILER_MAGIC)] == TRAILER_MAGIC:
                return segment
    return None


def find_stub_segment(exe: Executable) -> Segment | None:
    """stub_segment() of a file read earlier: relinterp's stub, even where the file is
    not patched any more (a tool put PT_INTERP back)."""
    try:
        with open(exe.path, "rb") as stream:
            return stub_segment(exe, stream)
    except OSError:
        return None


def _read_patch(exe: Executable, stream) -> Patch | None:
    segment = stub_segment(exe, stream)
    if segment is None:
        return None
    tsize = trailer_size()
    data = _pread(stream, segment.offset, segment.filesz)
    trailer = trailer_struct(exe.little_endian).parse(data[-tsize:])
    if trailer.schema != CONFIG_SCHEMA:
        raise UnsupportedError(exe.path, f"patched by another relinterp version (config schema "
                                         f"{trailer.schema}, this one reads {CONFIG_SCHEMA})")
    if trailer.config_offset >= len(data) - tsize:
        raise MalformedElfError(exe.path, "relinterp record is corrupt (config offset out of range)")
    config = StubConfig.unpack(data[trailer.config_offset : -tsize], exe.little_endian)
    record = config.restore
    original = None
    if record.original_size <= exe.file_size:
        view = OverlayView(stream, record.original_size, {0: record.header, exe.phoff: record.phdrs})
        try:
            original = _read(exe.path, view, record.original_size, find_patch=False)
        except RelinterpError:
            pass
    recorded = parse_segments(exe.structs(), record.phdrs)
    others = [s for s in exe.loads() if s is not segment]
    interp = record.interp if record.interp is not None else _recorded_interp(stream, recorded, others)
    return Patch(segment=segment, stub_code=data[: trailer.config_offset], config=config, original=original,
                 original_segments=recorded, original_interp=interp)


def _recorded_interp(stream, recorded: tuple[Segment, ...], loads: list[Segment]) -> str | None:
    """The original PT_INTERP path, in a record that does not hold it.  The patch leaves
    its bytes in place, and `strip` may move them in the file but not in memory, so they
    are found by address."""
    interp = next((s for s in recorded if s.type == "PT_INTERP"), None)
    if interp is None or interp.filesz == 0:
        return None
    offset = file_offset(loads, interp.vaddr, interp.filesz)
    if offset is None:
        return None
    raw = _pread(stream, offset, interp.filesz)
    return os.fsdecode(raw[:-1]) if raw.endswith(b"\0") and b"\0" not in raw[:-1] else None


def file_offset(loads, vaddr: int, size: int) -> int | None:
    """Where the `size` bytes at address `vaddr` are in the file, through the PT_LOAD
    segments `loads` (as the loader finds them in memory)."""
    return next((o for o in (s.file_offset_of(vaddr, size) for s in loads) if o is not None), None)
