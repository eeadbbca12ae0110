"""Whether the files of a program's closure will link together, checked before a tree is
built (bundle) or trusted (verify).

- Every file must be for the program's machine, class and byte order.
- musl applies DT_RELR relocations from 1.2.4 on; an older musl loads such a file and
  leaves its pointers unrelocated.

For glibc:

- The loader and libc.so.6 must come from one glibc build: libc calls into the loader
  through GLIBC_PRIVATE symbols and shares its internal structures, whose layout changes
  between builds; glibc checks only that the version names exist, so a mismatch crashes
  or misbehaves instead of failing cleanly.  The build is told by the banner both files
  carry; for a loader older than glibc 2.33 (no banner), by both lying in one directory.
- Any other file needing GLIBC_PRIVATE (libm.so.6, libresolv.so.2, NSS modules) is part
  of that build too.  Those files carry no banner, so: it must lie in libc.so.6's
  directory, or be a copy of the file of its name there.
- Every symbol version a file needs (GLIBC_2.34, GLIBCXX_3.4.30, ...) must be defined by
  the file its name resolves to: glibc's loader refuses to start otherwise
  ("version `GLIBC_2.38' not found").  This is how a glibc too old for the program shows.
  Weak version needs are not checked (glibc only warns about them).
"""

from __future__ import annotations

import filecmp
import os
from collections.abc import Iterator

from .closure import FILE, LOADER, Closure
from ..elf.linked import LinkedObject
from .glibc import PRIVATE, glibc_build
from .musl import RELR_SINCE


def machine_problem(obj: LinkedObject, reference: LinkedObject, whose: str) -> str | None:
    """Why `obj` cannot be loaded beside `reference` (named `whose`), if it cannot."""
    if obj.abi == reference.abi:
        return None
    return f"{obj.machine} ({obj.elfclass}-bit) differs from {whose} {reference.machine}"


def relr_problem(obj: LinkedObject, musl: tuple[int, int, int] | None, loader: str | None = None) -> str | None:
    """Why a musl loader of version `musl` (None: unknown) cannot relocate `obj`, if it cannot."""
    if not obj.relr or (musl is not None and musl >= RELR_SINCE):
        return None
    have = "musl " + ".".join(map(str, musl)) if musl else "a musl of unknown version"
    named = f"the loader {loader}" if loader else "the loader"
    return f"uses DT_RELR relocations, which need musl >= {'.'.join(map(str, RELR_SINCE))}; {named} is {have}"


def link_problems(closure: Closure, loader: str, libc_soname: str = "libc.so.6") -> Iterator[tuple[str, str]]:
    """(path, reason) for each file of `closure` that will not link with the others."""
    by_path = {obj.path: obj for obj in closure.objects}
    libc = next((obj for obj in closure.objects if obj.soname == libc_soname), None)
    if libc is not None:
        yield from _same_build(libc, loader, libc_soname)
        libc_dir = os.path.dirname(os.path.realpath(libc.path))
        for obj in closure.objects:
            if obj is not libc and _needs_private(obj) and not _beside(obj.path, libc_dir):
                yield obj.path, (f"uses glibc's private interfaces ({PRIVATE}), so it belongs to the build of "
                                 f"{libc.path}, but is not the {os.path.basename(obj.path)} of {libc_dir}: "
                                 "ship that one")
    providers = {}
    for r in closure.resolutions:
        if r.kind == FILE and r.path in by_path:
            providers.setdefault((r.needed_by, r.name), by_path[r.path])
        elif r.kind == LOADER:
            providers.setdefault((r.needed_by, r.name), None)  # the loader: checked against libc above
    for obj in closure.objects:
        for name, versions in obj.version_needs:
            provider = providers.get((obj.path, name))
            missing = [v for v in versions if provider is not None and v not in provider.version_defs]
            if missing:
                build = glibc_build(provider.path)
                what = f"{provider.path} ({build})" if build else provider.path
                yield obj.path, f"needs version {', '.join(missing)} of {name}, which {what} does not define"


def _same_build(libc: LinkedObject, loader: str, libc_soname: str) -> Iterator[tuple[str, str]]:
    ours, theirs = glibc_build(libc.path), glibc_build(loader)
    if ours is not None and theirs is not None:
        if ours != theirs:
            yield libc.path, (f"{libc_soname} is from glibc build {ours!r}, the loader {loader} from "
                              f"{theirs!r}: both must come from one build (they share {PRIVATE} internals)")
    elif os.path.dirname(os.path.realpath(libc.path)) != os.path.dirname(os.path.realpath(loader)):
        yield libc.path, (f"cannot tell that {libc_soname} and the loader {loader} come from one glibc build "
                          "(no version banner, different directories)")


def _beside(path: str, directory: str) -> bool:
    """`path` lies in `directory` or has the same bytes as the file of its name there."""
    real = os.path.realpath(path)
    if os.path.dirname(real) == directory:
        return True
    there = os.path.join(directory, os.path.basename(path))
    try:
        return os.path.getsize(there) == os.path.getsize(real) and filecmp.cmp(there, real, shallow=False)
    except OSError:
        return False


def _needs_private(obj: LinkedObject) -> bool:
    return any(PRIVATE in versions for _, versions in obj.version_needs)
