"""What a dynamic loader reads from an ELF file to link it: its NEEDED names, SONAME,
RPATH/RUNPATH, the relocation formats it uses, its machine, and the symbol versions it
needs and defines (glibc's loader checks those; musl's ignores them).

A view of the one model (relinterp.elf.model), read once per file.  Symbol versions
are the exception: they are read through pyelftools, which knows their sections well,
and only when asked for (glibc's checks ask; musl's never do).  A program relinterp
patched has no PT_INTERP any more: its original one comes from the record the patch
keeps.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from functools import cached_property

from ..errors import MalformedElfError, ReadError
from .executable import read_executable
from .model import Executable
from .regular import open_regular
from .searchlist import search_list
from .structs import ELF_MAGIC

VER_FLG_BASE, VER_FLG_WEAK = 0x1, 0x2


@dataclass(frozen=True)
class LinkedObject:
    """An ELF file as the dynamic loader sees it."""

    path: str  # the path it was found by (its $ORIGIN is this path's directory)
    model: Executable  # the file's headers and dynamic entries
    interp: str | None  # PT_INTERP, or the one recorded by relinterp's patch
    patched: bool  # relinterp patched it (its loader comes from the stub's candidates)

    machine = property(lambda self: self.model.machine)  # pyelftools' name, e.g. 'EM_X86_64'
    elfclass = property(lambda self: self.model.elfclass)
    little_endian = property(lambda self: self.model.little_endian)
    elf_type = property(lambda self: self.model.elf_type)  # 'ET_EXEC', 'ET_DYN', ...
    abi = property(lambda self: self.model.abi)
    pie = property(lambda self: self.model.pie)  # DT_FLAGS_1 has DF_1_PIE
    nodeflib = property(lambda self: self.model.nodeflib)  # DT_FLAGS_1 has DF_1_NODEFLIB
    soname = property(lambda self: self.model.soname)
    needed = property(lambda self: self.model.needed)
    rpath = property(lambda self: self.model.rpath)  # DT_RPATH as written
    runpath = property(lambda self: self.model.runpath)  # DT_RUNPATH as written
    relr = property(lambda self: self.model.relr)  # uses DT_RELR packed relocations
    has_dynamic = property(lambda self: self.model.has_dynamic)

    @property
    def search_path(self) -> str | None:
        """The search list the loader takes from the object (relinterp.elf.searchlist)."""
        return search_list(self.runpath, self.rpath)[1]

    @property
    def is_program(self) -> bool:
        """An executable (as opposed to a shared library or the loader itself)."""
        if self.elf_type == "ET_EXEC":
            return True
        if self.elf_type == "ET_DYN" and self.soname is not None and not self.pie:
            return False  # a library that can also be run (glibc's libc.so.6 prints its version)
        return self.elf_type == "ET_DYN" and (self.interp is not None or self.pie)

    @cached_property
    def version_needs(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """(NEEDED name, versions of it that must exist), from SHT_GNU_verneed; weak ones left out."""
        return self._versions[0]

    @cached_property
    def version_defs(self) -> tuple[str, ...]:
        """Versions it defines (SHT_GNU_verdef), its own name left out."""
        return self._versions[1]

    @cached_property
    def _versions(self) -> tuple[tuple, tuple]:
        return read_versions(self.path) if self.has_dynamic else ((), ())


def is_elf(path: str | os.PathLike[str]) -> bool:
    """A regular file starting with the ELF magic (read through a plain descriptor: a walk
    over a tree asks this of every file)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode) and os.read(fd, 4) == ELF_MAGIC
    except OSError:
        return False
    finally:
        os.close(fd)


def is_debug_only(path: str | os.PathLike[str]) -> bool:
    """A file of debugging information split from a program or library (`objcopy
    --only-keep-debug`, usr/lib/debug/): its program headers are the original's, but the
    contents of its PT_INTERP or PT_DYNAMIC are not in the file.  Nothing loads it."""
    from elftools.common.exceptions import ELFError
    from elftools.construct import ConstructError
    from elftools.elf.elffile import ELFFile

    try:
        with open_regular(path) as stream:
            return any(segment["p_type"] in ("PT_INTERP", "PT_DYNAMIC") and segment["p_filesz"] == 0
                       for segment in ELFFile(stream).iter_segments())
    except (OSError, ELFError, ConstructError, ValueError):
        return False


def read_linked_object(path: str | os.PathLike[str]) -> LinkedObject:
    return linked_view(read_executable(path))


def linked_view(exe: Executable) -> LinkedObject:
    """The loader's view of a file already read."""
    if exe.patch is not None:  # its loader: the one it had before the patch, if that is still known
        return LinkedObject(exe.path, exe, exe.patch.original_interp, True)
    return LinkedObject(exe.path, exe, exe.interp, False)


def read_versions(path: str) -> tuple[tuple, tuple]:
    """Symbol versions, from the version sections (found by type, not name).  A file
    without section headers has none to read: its versions go unchecked."""
    from elftools.common.exceptions import ELFError  # only glibc's checks need versions
    from elftools.construct import ConstructError
    from elftools.elf.elffile import ELFFile

    needs, defs = [], []
    try:
        with open_regular(path) as stream:
            for section in ELFFile(stream).iter_sections():
                kind = section["sh_type"]
                if kind == "SHT_GNU_verneed":
                    for need, aux in section.iter_versions():
                        needs.append((need.name, tuple(a.name for a in aux if not a["vna_flags"] & VER_FLG_WEAK)))
                elif kind == "SHT_GNU_verdef":
                    for version, aux in section.iter_versions():
                        names = [a.name for a in aux]
                        if names and not version["vd_flags"] & VER_FLG_BASE:
                            defs.append(names[0])
    except OSError as error:
        raise ReadError(path, f"cannot read its symbol versions ({error.strerror})") from None
    except (ELFError, ConstructError, ValueError, KeyError) as error:
        raise MalformedElfError(path, f"invalid symbol version sections ({error})") from None
    return tuple(needs), tuple(defs)
