"""A loader embedded in the program (`relinterp patch --embed-loader LOADER`): one file,
mapped by the kernel at execve (docs/embedding.md).

The loader's file, ELF header included, is appended to the program's at an offset
aligned to the largest `p_align`, and each of its PT_LOADs becomes a PT_LOAD of the
program at a fixed distance above the program's own, with the stub's segment above them:
the kernel maps the loader with the program, as it maps any program's segments, and the
stub only hands over (stub/embedded.c).

Two program header tables go right below the loader's ELF header, and its first PT_LOAD
reaches down over them, so that they are mapped without a mapping of their own:
- the program's, which e_phoff names and the kernel reads: the original entries without
  PT_INTERP, PT_PHDR (if there is one) describing this table, then the loader's PT_LOADs
  and the stub's, in ascending order as the kernel wants them;
- the loader's, which the stub hands over as AT_PHDR: PT_PHDR, a PT_INTERP with an empty
  name (the loader has no file of its own), then the original entries without PT_PHDR
  and PT_INTERP.  The loader's segments are not in it: a loader takes every PT_LOAD of
  the program's table for the program's own (musl gives the gaps between them to malloc).
The original table stays where it was, untouched: restoring needs the ELF header and the
original size only.  For a non-PIE program the loader lands at a fixed address too.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, replace

from ..elf.embedded import embedded_loader_bytes
from ..elf.model import Executable, Segment, read_model
from ..elf.properties import marked_for_bti
from ..elf.record import EmbeddedLoader
from ..elf.regular import open_regular
from ..elf.structs import (PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_NAMES, SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE,
                           SHN_LORESERVE, SHT_DYNSYM, SHT_NOBITS, SHT_PROGBITS, SHT_SYMTAB, Phdr, align_up)
from ..errors import LoaderFileError, RelinterpError, unreadable
from .sections import NewSection

MIN_PAGE = 4096  # the smallest page any supported machine has
MAX_LOADER_SIZE = 64 << 20  # musl's loader is under 1 MiB, glibc's under 300 KiB
MAX_HOLE = 16 << 20  # the most file the patch leaves as a hole to keep AT_PHDR right everywhere (place_loader)
# PT_INTERP's name for an embedded loader: none.  Loaders name themselves by it (musl:
# dladdr, dl_iterate_phdr, the prefix of etc/ld-musl-ARCH.path; glibc: l_name), and gdb
# reads a library's symbols from the file its link map names, skipping an empty name.
# The loader is part of the program's file, so its symbols go into the program's.
INTERP_NAME = b"\0"
SYMBOL_TYPES = (1, 2, 10)  # STT_OBJECT, STT_FUNC, STT_GNU_IFUNC: what a debugger names
PT_PHDR = PT_NAMES["PT_PHDR"]


@dataclass(frozen=True)
class LoaderImage:
    """A loader's file, read and checked, to embed in a program."""

    path: str  # as given (or the patched program's, for one embedded already)
    data: bytes
    model: Executable  # its headers

    @property
    def loads(self) -> list[Segment]:
        return [s for s in self.model.loads() if s.memsz]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def read_loader_image(program: Executable, path: str) -> LoaderImage:
    """The loader at `path`, checked for embedding in `program`; LoaderFileError, naming
    the program, when it cannot serve as its loader."""
    try:
        with open_regular(path) as stream:
            data = stream.read(MAX_LOADER_SIZE + 1)
    except OSError as error:
        raise LoaderFileError(program.path, f"--embed-loader {path}: {unreadable(path, error).reason}") from None
    if len(data) > MAX_LOADER_SIZE:
        raise LoaderFileError(program.path, f"--embed-loader {path}: over {MAX_LOADER_SIZE >> 20} MiB, not a loader")
    return image_of(program, path, data)


def image_of(program: Executable, path: str, data: bytes) -> LoaderImage:
    """`data` as the loader of `program` (named `path` in messages)."""
    try:
        model = read_model(path, io.BytesIO(data), len(data))
    except RelinterpError as error:
        raise LoaderFileError(program.path, f"--embed-loader {path}: {error.reason}") from None
    why = _not_a_loader_for(program, model, data)
    if why:
        raise LoaderFileError(program.path, f"--embed-loader {path}: {why}")
    return LoaderImage(path, data, model)


def _not_a_loader_for(program: Executable, loader: Executable, data: bytes) -> str | None:
    """Why `loader` cannot be embedded in `program` and started the kernel's way."""
    if loader.abi != program.abi:
        return (f"for {loader.machine} ({loader.elfclass}-bit), the program is for {program.machine} "
                f"({program.elfclass}-bit)" if loader.machine != program.machine or loader.elfclass !=
                program.elfclass else "the other byte order")
    if loader.elf_type != "ET_DYN" or loader.interp is not None:
        return f"not a loader ({'it has PT_INTERP' if loader.interp else f'ELF type {loader.elf_type}'})"
    loads = [s for s in loader.loads() if s.memsz]
    if not loads:
        return "no PT_LOAD segment"
    first = loads[0]
    if (first.offset, first.vaddr) != (0, 0) or not first.covers_file_range(loader.phoff, len(loader.phdrs)):
        return "its first segment does not map its ELF header and program headers at address 0, as a loader's does"
    for s in loads:
        if (s.vaddr - s.offset) % MIN_PAGE:
            return f"segment {s.index}: file offset and address differ within a page"
    if not any(s.flags & PF_X and s.vaddr <= loader.entry < s.vaddr + s.filesz for s in loads):
        return f"entry point {loader.entry:#x} outside its code"
    if marked_for_bti(program) and not marked_for_bti(loader, data):
        return ("the program is marked for BTI (branch target identification) and the loader is not: the kernel "
                "enforces the program's marking on every segment of its file, the loader's code included, which "
                "has no landing pads")
    return None


@dataclass(frozen=True)
class Embedding:
    """Where a loader goes in the patched program, with the two program header tables
    right below its ELF header: in the file, and in memory."""

    image: LoaderImage
    offset: int  # of its file in the program's
    base: int  # link-time address of its ELF header (its load bias, less the program's)
    kernel_size: int  # of the program's table, the first of the two
    loader_size: int  # of the loader's, with the name after it

    @property
    def tables_offset(self) -> int:
        """Where the tables start in the file; the address is base - (offset - this)."""
        return self.offset - self.tables_size

    @property
    def tables_size(self) -> int:
        return align_up(self.kernel_size + self.loader_size, 8)

    @property
    def loader_table_at(self) -> tuple[int, int]:
        """(file offset, address) of the loader's table."""
        return self.tables_offset + self.kernel_size, self.base - self.tables_size + self.kernel_size

    @property
    def loads(self) -> list[Segment]:
        """Its PT_LOADs as the program's; the first reaches down over the tables, which are
        then mapped (AT_PHDR, the table the stub hands over) without a mapping of their own."""
        loads = [Segment(index=-1, type="PT_LOAD", flags=s.flags, offset=self.offset + s.offset,
                         vaddr=self.base + s.vaddr, filesz=s.filesz, memsz=s.memsz, align=s.align)
                 for s in self.image.loads]
        return [replace(loads[0], offset=loads[0].offset - self.tables_size, vaddr=loads[0].vaddr - self.tables_size,
                        filesz=loads[0].filesz + self.tables_size, memsz=loads[0].memsz + self.tables_size),
                *loads[1:]]

    @property
    def file_end(self) -> int:
        return self.offset + len(self.image.data)

    def record(self) -> EmbeddedLoader:
        size = self.image.model.phentsize
        return EmbeddedLoader(base=self.base, entry=self.base + self.image.model.entry, phdr=self.loader_table_at[1],
                              phnum=(self.loader_size - len(INTERP_NAME)) // size,
                              program_phnum=self.kernel_size // size, offset=self.offset, size=len(self.image.data))


def place_loader(program: Executable, image: LoaderImage) -> Embedding:
    """The tables and the loader right above the program, in memory and in the file;
    the loader's file and its address aligned to the largest p_align, so that its base
    is aligned to any page size the files allow and its segments keep their offsets
    within a page, and the tables' page shares nothing with the program's last one.

    Where the hole it costs in the file is at most MAX_HOLE, the tables' address is
    their file offset plus that difference of the program's first PT_LOAD: kernels
    before 5.18 and qemu-user compute AT_PHDR that way (for the kernel's copy of the aux
    vector, which gdb reads to relocate a PIE), and newer kernels from the segment that
    holds e_phoff, which then agree.  The hole is the part of the program's memory image
    past its file's end (its bss), which the file then spans too."""
    align = max(MIN_PAGE, *(s.align for s in program.loads() + image.loads))
    interps = sum(s.type == "PT_INTERP" for s in program.segments)
    kept = sum(s.type not in ("PT_PHDR", "PT_INTERP") for s in program.segments)
    kernel_size = (len(program.segments) - interps + len(image.loads) + 1) * program.phentsize
    loader_size = (kept + 2) * program.phentsize + len(INTERP_NAME)
    tables = align_up(kernel_size + loader_size, 8)
    top = align_up(max(s.end for s in program.loads()), align)
    first = program.loads()[0]
    delta = first.vaddr - first.offset  # a multiple of the alignment: p_vaddr = p_offset modulo p_align
    compact = align_up(program.file_size + tables, align)
    linear = align_up(max(program.file_size, top - delta) + tables, align)
    if linear - compact <= MAX_HOLE and delta % align == 0:
        offset, base = linear, linear + delta
    else:
        offset, base = compact, align_up(top + tables, align)
    return Embedding(image, offset=offset, base=base, kernel_size=kernel_size, loader_size=loader_size)


def kernel_table(base: Executable, structs, embedding: Embedding, stub: Segment) -> bytes:
    """The program's table, which e_phoff names and the kernel maps."""
    entries = [e for e in structs.phdr.parse_all(base.phdrs) if e.p_type != PT_INTERP]
    entries += [load_entry(s) for s in (*embedding.loads, stub)]
    offset, vaddr, size = embedding.tables_offset, embedding.base - embedding.tables_size, embedding.kernel_size
    assert len(entries) * structs.phdr.size == size
    return b"".join(structs.phdr.build(e._replace(p_offset=offset, p_vaddr=vaddr, p_paddr=vaddr, p_filesz=size,
                                                  p_memsz=size) if e.p_type == PT_PHDR else e) for e in entries)


def loader_table(base: Executable, structs, embedding: Embedding) -> bytes:
    """The loader's table, with the name right after it (INTERP_NAME)."""
    kept = [e for e in structs.phdr.parse_all(base.phdrs) if e.p_type not in (PT_PHDR, PT_INTERP)]
    size = (len(kept) + 2) * structs.phdr.size
    offset, vaddr = embedding.loader_table_at
    phdr = Phdr(p_type=PT_PHDR, p_flags=PF_R, p_offset=offset, p_vaddr=vaddr, p_paddr=vaddr, p_filesz=size,
                p_memsz=size, p_align=8 if base.elfclass == 64 else 4)
    interp = Phdr(p_type=PT_INTERP, p_flags=PF_R, p_offset=offset + size, p_vaddr=vaddr + size,
                  p_paddr=vaddr + size, p_filesz=len(INTERP_NAME), p_memsz=len(INTERP_NAME), p_align=1)
    return b"".join(structs.phdr.build(e) for e in (phdr, interp, *kept)) + INTERP_NAME


def appended_bytes(base: Executable, embedding: Embedding, kernel: bytes) -> bytes:
    """Everything from the tables to the end of the loader's file, `kernel` the first
    table (kernel_table)."""
    tables = kernel + loader_table(base, base.layouts(), embedding)
    return tables + bytes(embedding.tables_size - len(tables)) + embedding.image.data


def load_entry(s: Segment) -> Phdr:
    """The program header entry of the PT_LOAD `s`."""
    return Phdr(p_type=PT_LOAD, p_flags=s.flags, p_offset=s.offset, p_vaddr=s.vaddr, p_paddr=s.vaddr,
                p_filesz=s.filesz, p_memsz=s.memsz, p_align=s.align)


# ------------------------------------------------------------------ sections, symbols


def loader_sections(embedding: Embedding) -> list[NewSection]:
    """The sections over what the patch put in the file: `strip` keeps only bytes a
    section covers (elfutils' strip zeroes even the program header table where none
    does), and a segment's bss only as far as a NOBITS section reaches.  The tables'
    section first."""
    size = embedding.kernel_size + embedding.loader_size
    found = [NewSection(b".rodata.program-headers", SHF_ALLOC, embedding.base - embedding.tables_size,
                        embedding.tables_offset, size, kind=SHT_PROGBITS)]
    for s in embedding.image.loads:
        flags = SHF_ALLOC | (SHF_EXECINSTR if s.flags & PF_X else 0) | (SHF_WRITE if s.flags & PF_W else 0)
        name = b".text" if s.flags & PF_X else b".data" if s.flags & PF_W else b".rodata"
        at, address = embedding.offset + s.offset, embedding.base + s.vaddr
        if s.filesz:
            found.append(NewSection(name + b".embedded-loader", flags, address, at, s.filesz, kind=SHT_PROGBITS))
        if s.memsz > s.filesz:
            found.append(NewSection(b".bss.embedded-loader", flags, address + s.filesz, at + s.filesz,
                                    s.memsz - s.filesz, kind=SHT_NOBITS))
    return found


def loader_symbols(embedding: Embedding, structs) -> list[tuple[bytes, object]]:
    """The loader's named functions and objects (its .symtab, else its .dynsym), moved
    to where they are in the program: (name, symbol)."""
    model, data = embedding.image.model, embedding.image.data
    sections = structs.shdr.parse_all(model.section_headers)
    table = next((s for kind in (SHT_SYMTAB, SHT_DYNSYM) for s in sections if s.sh_type == kind), None)
    if table is None or table.sh_entsize != structs.sym.size or not 0 < table.sh_link < len(sections):
        return []
    strings = sections[table.sh_link]
    names = data[strings.sh_offset : strings.sh_offset + strings.sh_size]
    found = []
    for sym in structs.sym.parse_all(data[table.sh_offset : table.sh_offset + table.sh_size]):
        if not 0 < sym.st_shndx < SHN_LORESERVE or sym.st_info & 0xF not in SYMBOL_TYPES or sym.st_info >> 4 == 0:
            continue
        name = names[sym.st_name : names.find(b"\0", sym.st_name)] if sym.st_name < len(names) else b""
        if name:
            found.append((name, sym._replace(st_value=embedding.base + sym.st_value)))
    return found


def embedded_image(exe: Executable, source=None) -> LoaderImage | None:
    """The loader a patched file carries, as embedded (read from `source`, the file open,
    else from its path); None for one that finds its loader."""
    data = embedded_loader_bytes(exe, source)
    return None if data is None else image_of(exe.patch.original or exe, exe.path, data)
