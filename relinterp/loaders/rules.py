"""The C libraries whose loaders relinterp can ship: which one a loader file is, and the
search rules to resolve its programs' libraries with (relinterp.loaders.musl, relinterp.loaders.glibc).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..elf.linked import LinkedObject
from ..elf.regular import open_regular
from .family import GLIBC, MUSL, libc_family
from .glibc import PRIVATE, GlibcRules, banner_in, build_of, file_facts, loader_facts
from .musl import MUSL_MARK, MuslRules, musl_version_in
from .sysroot import HOST, Sysroot


def loader_family(loader: LinkedObject) -> str | None:
    """MUSL or GLIBC from the loader file itself (read, not run); None for anything else."""
    if loader.elf_type != "ET_DYN":
        return None
    try:
        with open_regular(loader.path) as stream:
            return family_of_bytes(stream.read(), loader.soname)
    except OSError:
        return None


def family_of_bytes(data: bytes, soname: str | None) -> str | None:
    """loader_family() of a loader's bytes (its file's, or one embedded in a program):
    musl's carries its usage text; glibc's is named like one and keeps GLIBC_PRIVATE."""
    if MUSL_MARK in data:
        return MUSL
    if libc_family(soname) == GLIBC and PRIVATE.encode() + b"\0" in data:
        return GLIBC
    return None


def loader_version(data: bytes, family: str | None) -> str | None:
    """Which musl or glibc a loader's bytes are: "1.2.3", or glibc's build ("Debian
    GLIBC 2.36-9+deb12u13 2.36 stable")."""
    if family == MUSL:
        version = musl_version_in(data)
        return ".".join(map(str, version)) if version else None
    return build_of(banner_in(data)) if family == GLIBC else None


def loader_rules(family: str, loader_name: str, loader: LinkedObject, *, library_path: Sequence[str] = (),
                 proc: bool = True, sysroot: Sysroot = HOST, ask_loader: bool = True, arch: str | None = None):
    """The LoaderRules of `loader` (a file of `family`), known to programs as `loader_name`,
    seeing the file system `sysroot`.  `ask_loader`: glibc's loader may be run to print its
    build-time facts (bundle does so on the build machine; verify and ldd run nothing, and
    read what the file says).  `arch`: musl's name for the machine, where `loader_name`
    does not say it (an embedded loader's is empty)."""
    if family == MUSL:
        return MuslRules(loader_name, loader=loader.path, arch=arch, library_path=library_path, proc=proc,
                         sysroot=sysroot)
    facts = loader_facts(loader.path, loader.elfclass) if ask_loader else file_facts(loader.path, loader.elfclass)
    return GlibcRules(loader_name, loader=loader.path, loader_soname=loader.soname, facts=facts,
                      library_path=library_path, proc=proc, sysroot=sysroot)
