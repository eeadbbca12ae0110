"""Where a patched program looks for its loader: the candidates, their order, and where
each came from.

At run time the stub tries, in order, until one is an ELF loader for the right machine:

1. `RELINTERP_LOADER` (absolute), for one run; ignored in secure mode; not stored;
2. each `--loader-rel` (relative to `$ORIGIN`), in the order given;
3. each `--loader` (absolute), in the order given;
   when neither 2 nor 3 is given, the candidates derived from the program's DT_RUNPATH
   (DT_RPATH when it has no RUNPATH) take their place;
4. with `--fallback-system`, the program's original PT_INTERP.

In secure mode (setuid, setgid or file capabilities) only absolute candidates are
tried.  The stored form is a path: relative ones are relative to `$ORIGIN`, absolute ones
start with `/`.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..elf.record import FLAG_DERIVED, FLAG_SYSTEM_FALLBACK
from ..elf.model import Executable
from ..elf.searchlist import RPATH, RUNPATH, origin_relative, search_list, split_list
from ..errors import CandidateError

# Where a candidate came from: an option, a search list entry (RUNPATH, RPATH) or
OPTION = "option"  # --loader-rel or --loader
SYSTEM = "system"  # --fallback-system: the original PT_INTERP
# musl's loader is its libc: Debian installs /lib/ld-musl-ARCH.so.1 as a link to
# .../libc.so, and a bundle may carry it under either name.
MUSL_LOADER_PREFIX = "ld-musl-"
MUSL_LIBC = "libc.so"

HOW_TO_GIVE = "give --loader-rel PATH (relative to the program's directory), --loader /PATH or --fallback-system"


@dataclass(frozen=True)
class LoaderCandidate:
    """One place the stub looks for the loader."""

    path: str  # relative to $ORIGIN, or absolute
    provenance: str  # OPTION, RUNPATH, RPATH or SYSTEM
    derived_from: str | None = None  # the DT_RUNPATH/DT_RPATH entry, for derived ones

    @property
    def relative(self) -> bool:
        return not self.path.startswith("/")

    @property
    def kind(self) -> str:
        return "relative" if self.relative else "absolute"

    @property
    def derived(self) -> bool:
        return self.provenance in (RUNPATH, RPATH)

    def __str__(self) -> str:
        return f"$ORIGIN/{self.path}" if self.relative else self.path

    def describe(self) -> str:
        """The candidate and where it came from, e.g. for `patch -v`."""
        if self.provenance == SYSTEM:
            return f"{self} (the original interpreter, --fallback-system)"
        if self.derived:
            entry = f" entry {self.derived_from}" if self.derived_from is not None else ""
            return f"{self} (derived from {self.provenance}{entry})"
        return f"{self} ({'--loader-rel' if self.relative else '--loader'})"


def choose_candidates(
    exe: Executable,
    *,
    loader_rel: str | Sequence[str] = (),
    loader: str | Sequence[str] = (),
    fallback_system: bool = False,
) -> tuple[LoaderCandidate, ...]:
    """The candidates to bake into `exe` (unpatched) for these options, in run-time order."""
    rel, absolute = _as_tuple(loader_rel), _as_tuple(loader)
    for path in rel:
        if not path or path.startswith("/"):
            raise CandidateError(exe.path, f"--loader-rel {path!r}: must be relative to the program's directory")
    for path in absolute:
        if not path.startswith("/"):
            raise CandidateError(exe.path, f"--loader {path!r}: must be an absolute path")
    chosen = [LoaderCandidate(p, OPTION) for p in rel + absolute]
    if not chosen:
        chosen = list(runpath_candidates(exe))
    if fallback_system:
        chosen.append(system_candidate(exe))
    if not chosen:
        raise CandidateError(exe.path, f"no loader candidate: {HOW_TO_GIVE}; {_why_none_derived(exe)}")
    return _unique(chosen)


def runpath_candidates(exe: Executable) -> tuple[LoaderCandidate, ...]:
    """Candidates derived from DT_RUNPATH (or DT_RPATH when there is no RUNPATH): each
    entry that starts with $ORIGIN, joined with the loader's file name."""
    tag, value = search_list(exe.runpath, exe.rpath)
    if not value or not exe.interp:
        return ()
    names = loader_file_names(exe.interp)
    found = []
    for entry in split_list(value):
        directory = origin_relative(entry)
        if directory is not None:
            found += [LoaderCandidate(posixpath.join(directory, name), tag, entry) for name in names]
    return _unique(found)


def loader_file_names(interp: str) -> tuple[str, ...]:
    name = posixpath.basename(interp)
    return (name, MUSL_LIBC) if name.startswith(MUSL_LOADER_PREFIX) else (name,)


def system_candidate(exe: Executable) -> LoaderCandidate:
    if exe.interp is None:
        raise CandidateError(exe.path, "--fallback-system: the original interpreter is unknown "
                                       "(patched, then changed?)")
    if not exe.interp.startswith("/"):
        raise CandidateError(exe.path, f"--fallback-system: the original interpreter {exe.interp!r} "
                                       "is not an absolute path")
    return LoaderCandidate(exe.interp, SYSTEM)


def config_flags(candidates: Iterable[LoaderCandidate]) -> int:
    """What the config block records of the candidates' provenance."""
    candidates = tuple(candidates)
    flags = FLAG_DERIVED if any(c.derived for c in candidates) else 0
    if candidates and candidates[-1].provenance == SYSTEM:
        flags |= FLAG_SYSTEM_FALLBACK
    return flags


def recorded_candidates(exe: Executable) -> tuple[LoaderCandidate, ...]:
    """The candidates a patched file carries, with their provenance (from its flags, and
    for derived ones the entry they came from, from its DT_RUNPATH/DT_RPATH)."""
    if exe.patch is None:
        return ()
    config = exe.patch.config
    paths = list(config.candidates)
    system = paths.pop() if paths and config.flags & FLAG_SYSTEM_FALLBACK else None
    if config.flags & FLAG_DERIVED:
        original = exe.patch.original or exe
        derived = {c.path: c for c in runpath_candidates(original)}
        tag = RUNPATH if exe.runpath is not None else RPATH
        found = [derived.get(p, LoaderCandidate(p, tag)) for p in paths]
    else:
        found = [LoaderCandidate(p, OPTION) for p in paths]
    if system is not None:
        found.append(LoaderCandidate(system, SYSTEM))
    return tuple(found)


def _as_tuple(value: str | os.PathLike[str] | Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, (str, os.PathLike)):
        return (os.fspath(value),)
    return tuple(os.fspath(v) for v in value)


def _unique(candidates: Iterable[LoaderCandidate]) -> tuple[LoaderCandidate, ...]:
    """Each path once, where it first appears: a second try of the same file cannot succeed."""
    seen: set[str] = set()
    return tuple(c for c in candidates if not (c.path in seen or seen.add(c.path)))


def _why_none_derived(exe: Executable) -> str:
    if exe.interp is None:
        return "none can be derived: the original interpreter is unknown (patched, then changed?)"
    tag, value = search_list(exe.runpath, exe.rpath)
    if value is None:
        return "none can be derived: the program has no DT_RUNPATH or DT_RPATH"
    return f"none can be derived: its {tag} {value!r} has no entry starting with $ORIGIN"
