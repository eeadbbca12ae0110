"""What a dynamic loader reads from an ELF file to link it: its NEEDED names, SONAME,
RPATH/RUNPATH, the relocation formats it uses, its machine, and the symbol versions it
needs and defines (glibc's loader checks those; musl's ignores them).

Read through pyelftools from the program headers (PT_DYNAMIC, PT_INTERP), never from
section names, so stripped files read the same.  A program relinterp patched has no
PT_INTERP any more: its original one comes from the record the patch keeps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.construct import ConstructError
from elftools.elf.elffile import ELFFile

from .dynamic import DF_1_PIE
from .executable import ELF_MAGIC, read_executable
from ..errors import MalformedElfError, NotElfError, RelinterpError

# Tag numbers for the packed relative relocations (gABI, 2022); older pyelftools
# releases have no names for them.
DT_RELRSZ, DT_RELR = 35, 36
RELR_TAGS = frozenset(("DT_RELR", "DT_RELRSZ", DT_RELR, DT_RELRSZ))
DF_1_NODEFLIB = 0x00000800  # ld -z nodefaultlib: glibc skips ld.so.cache and its system directories
VER_FLG_BASE, VER_FLG_WEAK = 0x1, 0x2


@dataclass(frozen=True)
class LinkedObject:
    """An ELF file as the dynamic loader sees it."""

    path: str  # the path it was found by (its $ORIGIN is this path's directory)
    machine: str  # pyelftools' name, e.g. 'EM_X86_64'
    elfclass: int
    little_endian: bool
    elf_type: str  # 'ET_EXEC', 'ET_DYN', ...
    interp: str | None  # PT_INTERP, or the one recorded by relinterp's patch
    patched: bool  # relinterp patched it (its loader comes from the stub's candidates)
    pie: bool  # DT_FLAGS_1 has DF_1_PIE
    soname: str | None
    needed: tuple[str, ...]
    rpath: str | None  # DT_RPATH as written
    runpath: str | None  # DT_RUNPATH as written
    relr: bool  # uses DT_RELR packed relocations
    dynamic: bool  # has PT_DYNAMIC
    nodeflib: bool = False  # DT_FLAGS_1 has DF_1_NODEFLIB
    # (NEEDED name, versions of it that must exist), from SHT_GNU_verneed; weak ones left out
    version_needs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    version_defs: tuple[str, ...] = ()  # versions it defines (SHT_GNU_verdef), its own name left out

    @property
    def search_path(self) -> str | None:
        """The search list the object carries: RUNPATH wins over RPATH when both exist
        (musl: decode_dyn; glibc: RPATH is ignored when RUNPATH is present)."""
        return self.runpath if self.runpath is not None else self.rpath

    @property
    def abi(self) -> tuple[str, int, bool]:
        return (self.machine, self.elfclass, self.little_endian)

    @property
    def is_program(self) -> bool:
        """An executable (as opposed to a shared library or the loader itself)."""
        if self.elf_type == "ET_EXEC":
            return True
        if self.elf_type == "ET_DYN" and self.soname is not None and not self.pie:
            return False  # a library that can also be run (glibc's libc.so.6 prints its version)
        return self.elf_type == "ET_DYN" and (self.interp is not None or self.pie)


def is_elf(path: str | os.PathLike[str]) -> bool:
    try:
        with open(path, "rb") as stream:
            return stream.read(4) == ELF_MAGIC
    except OSError:
        return False


def read_linked_object(path: str | os.PathLike[str]) -> LinkedObject:
    path = os.fspath(path)
    try:
        with open(path, "rb") as stream:
            if stream.read(4) != ELF_MAGIC:
                raise NotElfError(path, "not an ELF file")
            stream.seek(0)
            return _read(path, ELFFile(stream))
    except OSError as error:
        raise RelinterpError(path, f"cannot read ({error.strerror})") from None
    except (ELFError, ConstructError, ValueError, KeyError) as error:
        raise MalformedElfError(path, f"invalid ELF headers ({error})") from None


def _read(path: str, elf: ELFFile) -> LinkedObject:
    interp, soname, rpath, runpath, needed = None, None, None, None, []
    relr = pie = nodeflib = has_dynamic = False
    for segment in elf.iter_segments():
        kind = segment["p_type"]
        if kind == "PT_INTERP":
            interp = segment.get_interp_name()
        elif kind == "PT_DYNAMIC":
            has_dynamic = True
            for tag in segment.iter_tags():
                name = tag.entry.d_tag
                if name == "DT_NEEDED":
                    needed.append(tag.needed)
                elif name == "DT_SONAME":
                    soname = tag.soname
                elif name == "DT_RPATH":
                    rpath = tag.rpath
                elif name == "DT_RUNPATH":
                    runpath = tag.runpath
                elif name == "DT_FLAGS_1":
                    pie = bool(tag.entry.d_val & DF_1_PIE)
                    nodeflib = bool(tag.entry.d_val & DF_1_NODEFLIB)
                elif name in RELR_TAGS:
                    relr = True
    patched = False
    if interp is None and elf.header.e_type in ("ET_EXEC", "ET_DYN") and has_dynamic:
        interp, patched = _recorded_interp(path)
    return LinkedObject(
        path=path, machine=elf.header.e_machine, elfclass=elf.elfclass, little_endian=elf.little_endian,
        elf_type=elf.header.e_type, interp=interp, patched=patched, pie=pie, soname=soname,
        needed=tuple(needed), rpath=rpath, runpath=runpath, relr=relr, dynamic=has_dynamic, nodeflib=nodeflib,
        **(_versions(elf) if has_dynamic else {}),
    )


def _versions(elf: ELFFile) -> dict:
    """Symbol versions, from the version sections (found by type, not name).  A file
    without section headers has none to read: its versions go unchecked."""
    needs, defs = [], []
    for section in elf.iter_sections():
        kind = section["sh_type"]
        if kind == "SHT_GNU_verneed":
            for need, aux in section.iter_versions():
                wanted = tuple(a.name for a in aux if not a["vna_flags"] & VER_FLG_WEAK)
                needs.append((need.name, wanted))
        elif kind == "SHT_GNU_verdef":
            for version, aux in section.iter_versions():
                names = [a.name for a in aux]
                if names and not version["vd_flags"] & VER_FLG_BASE:
                    defs.append(names[0])
    return {"version_needs": tuple(needs), "version_defs": tuple(defs)}


def _recorded_interp(path: str) -> tuple[str | None, bool]:
    """The PT_INTERP a relinterp-patched program had before it was patched."""
    try:
        exe = read_executable(path)
    except RelinterpError:
        return None, False
    if exe.patch is None:
        return None, False
    return exe.patch.original_interp, True
