"""A read-only model of an executable: what relinterp needs to know, read via pyelftools.

Works for both ELF classes and byte orders.  Program headers, not section names, are
the source of truth (PT_INTERP, PT_DYNAMIC), so stripped files read the same.  A file
relinterp patched carries a record of its original headers; `read_executable` models
that original too, from the record laid over the file (see `_OriginalView`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from elftools.common.exceptions import ELFError
from elftools.construct import ConstructError
from elftools.elf.elffile import ELFFile
from elftools.elf.structs import ELFStructs

from .config import CONFIG_SCHEMA, TRAILER_MAGIC, StubConfig, trailer_size, trailer_struct
from .errors import MalformedElfError, NotElfError, RelinterpError, UnsupportedError

ELF_MAGIC = b"\x7fELF"
PN_XNUM = 0xFFFF
DF_1_PIE = 0x08000000
MAX_STUB_SEGMENT = 1 << 20  # larger last segments are the program's own, not a stub's


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
    patch: Patch | None  # set when relinterp patched this file
    runpath: str | None = None  # DT_RUNPATH
    rpath: str | None = None  # DT_RPATH

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
        structs = ELFStructs(self.little_endian, self.elfclass)
        structs.create_basic_structs()
        structs.create_advanced_structs(self.elf_type, self.machine, None)
        return structs


@dataclass(frozen=True)
class Patch:
    """What relinterp appended to a patched file."""

    segment: Segment
    stub_code: bytes
    config: StubConfig
    # The input as it was before the patch; None when the file changed since (stripped,
    # say) so that the recorded headers no longer describe it.
    original: Executable | None


def read_executable(path: str | os.PathLike[str]) -> Executable:
    path = os.fspath(path)
    try:
        with open(path, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            return _read(path, stream, size, find_patch=True)
    except OSError as error:
        raise RelinterpError(path, f"cannot read ({error.strerror})") from None


def _read(path: str, stream, size: int, *, find_patch: bool) -> Executable:
    ident = stream.read(16)
    stream.seek(0)
    if len(ident) < 4 or ident[:4] != ELF_MAGIC:
        raise NotElfError(path, "not an ELF file")
    if len(ident) < 16:
        raise MalformedElfError(path, f"truncated ELF header (file is {size} bytes)")
    if ident[4] not in (1, 2):
        raise MalformedElfError(path, f"invalid ELF class (EI_CLASS={ident[4]})")
    if ident[5] not in (1, 2):
        raise MalformedElfError(path, f"invalid byte order (EI_DATA={ident[5]})")
    if size < (64 if ident[4] == 2 else 52):  # sizeof(Elf64_Ehdr), sizeof(Elf32_Ehdr)
        raise MalformedElfError(path, f"truncated ELF header (file is {size} bytes)")
    try:
        elf = ELFFile(stream)
        return _model(path, stream, size, elf, find_patch)
    except (ELFError, ConstructError, ValueError, KeyError) as error:
        raise MalformedElfError(path, f"invalid ELF headers ({error})") from None


def _pread(stream, offset: int, size: int) -> bytes:
    stream.seek(offset)
    return stream.read(size)


def _model(path: str, stream, size: int, elf: ELFFile, find_patch: bool) -> Executable:
    h = elf.header
    phentsize = elf.structs.Elf_Phdr.sizeof()
    shentsize = elf.structs.Elf_Shdr.sizeof()
    if h.e_phnum == PN_XNUM or (h.e_shnum == 0 and h.e_shoff != 0):
        raise UnsupportedError(path, "extended ELF header numbering (over 65279 entries) is not supported")
    if h.e_ehsize != elf.structs.Elf_Ehdr.sizeof():
        raise MalformedElfError(path, f"bad ELF header size (e_ehsize={h.e_ehsize})")
    if h.e_phnum and h.e_phentsize != phentsize:
        raise MalformedElfError(path, f"bad program header size (e_phentsize={h.e_phentsize})")
    if h.e_phoff + h.e_phnum * phentsize > size:
        raise MalformedElfError(path, f"program header table outside the file (e_phoff={h.e_phoff:#x}, "
                                      f"e_phnum={h.e_phnum}, file size {size})")
    phdrs = _pread(stream, h.e_phoff, h.e_phnum * phentsize)
    segments = tuple(_segment(i, elf.structs.Elf_Phdr.parse(phdrs[i * phentsize :]))
                     for i in range(h.e_phnum))
    _check_segments(path, segments, size)
    if h.e_shnum and h.e_shentsize != shentsize:
        raise MalformedElfError(path, f"bad section header size (e_shentsize={h.e_shentsize})")
    if h.e_shoff + h.e_shnum * shentsize > size:
        raise MalformedElfError(path, f"section header table outside the file (e_shoff={h.e_shoff:#x}, "
                                      f"e_shnum={h.e_shnum}, file size {size})")
    section_headers = _pread(stream, h.e_shoff, h.e_shnum * shentsize) if h.e_shnum else b""
    section_names = b""
    if h.e_shnum and h.e_shstrndx < h.e_shnum:
        names = elf.get_section(h.e_shstrndx).header
        if names.sh_offset + names.sh_size <= size and names.sh_type != "SHT_NOBITS":
            section_names = _pread(stream, names.sh_offset, names.sh_size)

    interp, dynamic, pie, paths = None, 0, False, {}
    for s in segments:
        if s.type == "PT_INTERP":
            interp = elf.get_segment(s.index).get_interp_name()
        elif s.type == "PT_DYNAMIC":
            dynamic = s.vaddr
            for tag in elf.get_segment(s.index).iter_tags():
                if tag.entry.d_tag == "DT_FLAGS_1":
                    pie = bool(tag.entry.d_val & DF_1_PIE)
                elif tag.entry.d_tag in ("DT_RUNPATH", "DT_RPATH"):
                    paths[tag.entry.d_tag] = tag.runpath if tag.entry.d_tag == "DT_RUNPATH" else tag.rpath

    exe = Executable(
        path=path,
        file_size=size,
        elfclass=elf.elfclass,
        little_endian=elf.little_endian,
        machine=h.e_machine,
        elf_type=h.e_type,
        entry=h.e_entry,
        header=_pread(stream, 0, h.e_ehsize),
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
        dynamic=dynamic,
        pie=pie,
        patch=None,
        runpath=paths.get("DT_RUNPATH"),
        rpath=paths.get("DT_RPATH"),
    )
    if find_patch and interp is None:
        patch = _read_patch(exe, stream)
        if patch is not None:
            return replace(exe, patch=patch)
    return exe


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


def _check_segments(path: str, segments: tuple[Segment, ...], size: int) -> None:
    for s in segments:
        if s.filesz and s.offset + s.filesz > size:
            raise MalformedElfError(path, f"segment {s.index} ({s.type}) outside the file "
                                          f"(p_offset={s.offset:#x}, p_filesz={s.filesz:#x}, file size {size})")
        if s.type == "PT_LOAD" and s.filesz > s.memsz:
            raise MalformedElfError(path, f"segment {s.index} (PT_LOAD) has p_filesz > p_memsz")
    loads = sorted((s for s in segments if s.type == "PT_LOAD"), key=lambda s: s.vaddr)
    for a, b in zip(loads, loads[1:]):
        if a.end > b.vaddr:
            raise MalformedElfError(path, f"segments overlap: PT_LOAD {a.index} "
                                          f"[{a.vaddr:#x}, {a.end:#x}) and PT_LOAD {b.index} at {b.vaddr:#x}")


def _read_patch(exe: Executable, stream) -> Patch | None:
    """The stub segment is the last PT_LOAD, ending with relinterp's trailer."""
    loads = exe.loads()
    if not loads or loads[-1] is not exe.segments[-1]:
        return None
    segment = loads[-1]
    tsize = trailer_size()
    if not tsize <= segment.filesz <= MAX_STUB_SEGMENT:
        return None
    data = _pread(stream, segment.offset, segment.filesz)
    trailer = trailer_struct(exe.little_endian).parse(data[-tsize:])
    if trailer.magic != TRAILER_MAGIC:
        return None
    if trailer.schema != CONFIG_SCHEMA:
        raise UnsupportedError(exe.path, f"patched by another relinterp version (config schema "
                                         f"{trailer.schema}, this one reads {CONFIG_SCHEMA})")
    if trailer.config_offset >= len(data) - tsize:
        raise MalformedElfError(exe.path, "relinterp record is corrupt (config offset out of range)")
    config = StubConfig.unpack(data[trailer.config_offset : -tsize], exe.little_endian)
    record = config.restore
    original = None
    if record.original_size <= exe.file_size:
        view = _OriginalView(stream, record.original_size, {0: record.header, exe.phoff: record.phdrs})
        try:
            original = _read(exe.path, view, record.original_size, find_patch=False)
        except MalformedElfError:
            pass
    return Patch(segment=segment, stub_code=data[: trailer.config_offset], config=config, original=original)


class _OriginalView:
    """A file seen as it was before patching: cut at the original size, with the
    original header bytes laid over the patched ones."""

    def __init__(self, stream, size: int, overlays: dict[int, bytes]) -> None:
        self._stream = stream
        self._size = size
        self._overlays = overlays
        self._pos = 0

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:
        end = self._size if n < 0 else min(self._size, self._pos + n)
        if end <= self._pos:
            return b""
        data = bytearray(_pread(self._stream, self._pos, end - self._pos))
        for at, patch in self._overlays.items():
            lo, hi = max(at, self._pos), min(at + len(patch), self._pos + len(data))
            if lo < hi:
                data[lo - self._pos : hi - self._pos] = patch[lo - at : hi - at]
        self._pos += len(data)
        return bytes(data)
