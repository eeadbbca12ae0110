"""The C libraries whose loaders relinterp can ship: which one a loader file is, and the
search rules to resolve its programs' libraries with (relinterp.loaders.musl, relinterp.loaders.glibc).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..elf.linked import LinkedObject
from .glibc import GlibcRules, default_facts, is_glibc_loader, loader_facts
from .family import GLIBC, MUSL
from .musl import MuslRules, is_musl_loader


def loader_family(loader: LinkedObject) -> str | None:
    """MUSL or GLIBC from the loader file itself (read, not run); None for anything else."""
    if loader.elf_type != "ET_DYN":
        return None
    if is_musl_loader(loader.path):
        return MUSL
    if is_glibc_loader(loader.path, loader.soname):
        return GLIBC
    return None


def loader_rules(family: str, loader_name: str, loader: LinkedObject, *, library_path: Sequence[str] = (),
                 proc: bool = True, within: str | None = None, ask_loader: bool = True):
    """The LoaderRules of `loader` (a file of `family`), known to programs as `loader_name`.
    `ask_loader`: glibc's loader may be run to print its build-time facts (bundle does so on
    the build machine; verify runs nothing from the tree it checks)."""
    if family == MUSL:
        return MuslRules(loader_name, loader=loader.path, library_path=library_path, proc=proc, within=within)
    facts = loader_facts(loader.path, loader.elfclass) if ask_loader else default_facts(loader.elfclass)
    return GlibcRules(loader_name, loader=loader.path, loader_soname=loader.soname, facts=facts, library_path=library_path, proc=proc,
                      within=within)
