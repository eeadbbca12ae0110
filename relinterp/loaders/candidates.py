"""The loaders a program is about to be patched to, as they are at patch time.

A candidate may not exist yet (the loader is often copied in after patching), so a
missing one is only worth a warning.  One that exists is read: a musl loader for a glibc
program, or the other way round, gives a program that starts and then fails on its first
glibc-only symbol (`gnu_get_libc_version: symbol not found`, status 127), so that is a
refusal; a loader for another machine is skipped by the stub at run time, which is
worth a warning.  A program whose C library is not told by its interpreter's name is
not checked.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable

from ..elf.linked import read_linked_object
from ..errors import LibcMismatchError, RelinterpError
from .family import other_libc


def check_loaders(path: str, interp: str | None, abi: tuple, candidates: Iterable[tuple[str, bool]],
                  origin: str) -> tuple[str, ...]:
    """Warnings about the `candidates` ((path as stored, given by --loader-rel)) of the
    program at `path`, whose original interpreter is `interp` and ABI `abi`, resolved
    from the directory `origin` ($ORIGIN); LibcMismatchError for a loader of the other
    C library."""
    warnings = []
    for candidate, given_relative in candidates:
        resolved = os.path.normpath(os.path.join(origin, candidate))
        shown = f"$ORIGIN/{candidate}" if not os.path.isabs(candidate) else candidate
        if not os.path.exists(resolved):
            if given_relative:
                warnings.append(f"loader {shown} ({resolved}) does not exist yet: put the loader there before "
                                f"the program runs")
            continue
        found = _loader(resolved)
        if found is None:
            continue
        its_family, its_abi = found
        wanted = other_libc(interp, its_family)
        if wanted is not None:
            raise LibcMismatchError(path, f"loader {shown} ({resolved}) is a {its_family} loader, but the program "
                                          f"is linked against {wanted} (PT_INTERP {interp}): it would not start; "
                                          f"give a {wanted} loader")
        if its_abi != abi:
            warnings.append(f"loader {shown} ({resolved}) is for {its_abi[0]} ({its_abi[1]}-bit), not this "
                            f"program's {abi[0]} ({abi[1]}-bit): the program will skip it")
    return tuple(warnings)


def _loader(path: str) -> tuple[str | None, tuple] | None:
    """(C library family, ABI) of the loader file at `path`, None if it is no ELF file."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return _read_loader(os.path.realpath(path), info.st_ino, info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _read_loader(path: str, *identity) -> tuple[str | None, tuple] | None:
    """Read once per file and version of it: a run over a tree patches every program to
    the same loader (`identity`: inode, size, mtime)."""
    from .rules import loader_family  # the loaders' rules: only once a candidate exists

    try:
        loader = read_linked_object(path)
    except RelinterpError:
        return None
    return loader_family(loader), loader.abi
