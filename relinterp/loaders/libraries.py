"""The libraries a program would load, found by *its* loader's rules, without running
anything (`relinterp ldd`).

For a patched program the loader is the one its stub would map: the first recorded
candidate that exists (`$ORIGIN` is the program's directory, symbolic links resolved, as
/proc/self/exe gives it).  Otherwise it is PT_INTERP.  The search is that loader's
(relinterp.loaders: musl's or glibc's rules, RPATH/RUNPATH with `$ORIGIN`, the path
file or ld.so.cache), walked as relinterp.loaders.closure walks it.  glibc's `ldd`
runs the program with its loader; this reads files only (not even the loader runs, so
glibc's `$LIB`/`$PLATFORM` and hardware-capability directories are not expanded).

With a sysroot (relinterp.loaders.sysroot) the target's paths are found there: PT_INTERP,
absolute candidates, the loader's directories, ld.so.conf, absolute RPATH/RUNPATH
entries.  A patched program's loader is where the program is: its directory tree is
taken as installed at its own path on the target.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..elf.executable import read_executable
from ..elf.linked import linked_view, read_linked_object
from ..elf.model import Executable
from ..errors import (EXIT_FAILED, EXIT_NOTHING_TO_DO, EXIT_OK, NotExecutableError, NothingToPatchError,
                      RelinterpError, unreadable)
from .closure import MISSING, OUTSIDE, Resolution, resolve_closure
from .embedded import EMBEDDED, embedded_loader_file
from .rules import loader_family, loader_rules
from .sysroot import HOST, Sysroot


@dataclass(frozen=True)
class Loader:
    path: str | None  # the file the program would start with; None when none exists
    source: str  # "candidate $ORIGIN/...", "candidate /abs", or "PT_INTERP"
    tried: tuple[str, ...]  # the paths looked at, in order
    family: str | None  # MUSL or GLIBC, None when its rules are unknown


@dataclass(frozen=True)
class LibraryList:
    program: str
    patched: bool
    loader: Loader
    resolutions: tuple[Resolution, ...]  # every NEEDED name of every loaded object, load order

    @property
    def missing(self) -> bool:
        return self.loader.path is None or any(r.kind in (MISSING, OUTSIDE) for r in self.resolutions)

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.missing else EXIT_OK


def list_libraries(path: str, sysroot: Sysroot = HOST) -> LibraryList:
    """The loader and libraries of the program at `path`, the target's files being in
    `sysroot`; RelinterpError for a file that is not a dynamic program
    (NothingToPatchError for a static one)."""
    exe = read_executable(path)
    program = linked_view(exe)
    if exe.elf_type not in ("ET_EXEC", "ET_DYN") or (exe.patch is None and exe.interp is None):
        if exe.elf_type == "ET_EXEC" or exe.pie:
            raise NothingToPatchError(path, "not a dynamic executable (static): it loads no library")
        no_interp = ", no PT_INTERP" if exe.elf_type == "ET_DYN" else ""
        raise NotExecutableError(path, f"not a program (ELF type {exe.elf_type}{no_interp})")
    if exe.patch is not None and exe.patch.config.embedded is not None:
        return _with_embedded_loader(path, exe, program, sysroot)
    loader = _find_loader(path, exe, sysroot)
    if loader.path is None or loader.family is None:
        return LibraryList(path, exe.patch is not None, loader, ())
    loader_file = read_linked_object(loader.path)
    if exe.patch is not None and sysroot.is_foreign:  # the stub names the loader where it is
        sysroot = Sysroot.at(sysroot.directory, mounts=(os.path.dirname(os.path.dirname(loader.path)),))
    rules = loader_rules(loader.family, loader.path if exe.patch is not None else exe.interp, loader_file,
                         ask_loader=False, sysroot=sysroot)
    closure = resolve_closure(program, rules)
    return LibraryList(path, exe.patch is not None, loader, tuple(closure.resolutions))


def _with_embedded_loader(path: str, exe: Executable, program, sysroot: Sysroot) -> LibraryList:
    """The libraries of a program that carries its loader: its rules, under the name the
    stub gives it (an empty one; musl's path file is then /etc/ld-musl-ARCH.path)."""
    try:
        with embedded_loader_file(exe) as (file, arch):
            loader_file = read_linked_object(file)
            family = loader_family(loader_file)
            loader = Loader(os.path.abspath(path), EMBEDDED, (), family)
            if family is None:
                return LibraryList(path, True, loader, ())
            rules = loader_rules(family, "", loader_file, ask_loader=False, sysroot=sysroot, arch=arch)
            return LibraryList(path, True, loader, tuple(resolve_closure(program, rules).resolutions))
    except OSError as error:
        raise unreadable(path, error) from None


def _find_loader(path: str, exe: Executable, sysroot: Sysroot) -> Loader:
    if exe.patch is None:
        tried, source = (sysroot.locate(exe.interp),), "PT_INTERP"
    else:
        origin = os.path.dirname(os.path.realpath(path))
        tried = tuple(sysroot.locate(c) if os.path.isabs(c) else os.path.normpath(os.path.join(origin, c))
                      for c in exe.patch.config.candidates)
        source = "candidate"
    found = next((t for t in tried if os.path.isfile(t)), None)
    if found is None:
        return Loader(None, source, tried, None)
    if source == "candidate":
        candidate = exe.patch.config.candidates[tried.index(found)]
        source = f"candidate {candidate if os.path.isabs(candidate) else '$ORIGIN/' + candidate}"
    try:
        family = loader_family(read_linked_object(found))
    except RelinterpError:
        family = None
    return Loader(os.path.abspath(found), source, tried, family)


def exit_status(results: list) -> int:
    """EXIT_FAILED if anything is missing or was refused; EXIT_NOTHING_TO_DO if every
    program is static; else EXIT_OK."""
    codes = {r.exit_code for r in results}
    if codes - {EXIT_OK, EXIT_NOTHING_TO_DO}:
        return EXIT_FAILED
    return EXIT_NOTHING_TO_DO if codes == {EXIT_NOTHING_TO_DO} else EXIT_OK
