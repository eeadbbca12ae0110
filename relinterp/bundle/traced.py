"""Where the files a traced run used go (bundle --trace, --trace-cmd): a pure function of
the trace, the program's prefix and what each path is on this machine.

The prefix is the directory the tree stands for (`/usr` for `/usr/bin/python3.11`): a
file under it goes to the same place under the tree, so that a program finding files
relative to itself (python's standard library, gcc-ar's plugin, a helper in libexec/)
finds them there too.  By the file's path as the program named it:
- a shared object it mapped (dlopen): into the tree, at its place under the prefix, else
  into LIB_DIR, with its closure (relinterp.bundle.loaded then leaves out those the
  programs map at start-up, and sends to LIB_DIR those their loader finds by file name);
- an ELF program of the prefix it executed (or looked at): bundled and patched at its
  place; a script it executed: copied;
- any other file or directory of the prefix it opened or probed: copied (a directory:
  made), unless it was opened for writing or is a symbolic link leading out of the
  prefix (`/usr/lib/ssl/cert.pem` -> /etc/...): the target's own file is meant;
- everything else it opened, probed or executed (`/etc`, `/proc`, the home directory,
  `/usr/share/zoneinfo` for a program outside /usr, ...) is not copied, and is listed as
  taken from the target, with whether it was there on this machine.
Paths it probed and did not find under the prefix are left out: the tree lacks them too.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from ..trace.model import EXECUTED, MAPPED, Access, Trace
from .additions import DATA, DIRECTORY as ADDED_DIRECTORY, PROGRAM as ADDED_PROGRAM, SHARED_OBJECT, TRACE, Addition

MISSING, DIRECTORY, PROGRAM, LIBRARY, FILE, OTHER = "missing", "directory", "program", "library", "file", "other"


@dataclass(frozen=True)
class PathFacts:
    """What a traced path is on this machine."""

    kind: str  # MISSING, DIRECTORY, PROGRAM or LIBRARY (ELF for the programs' machine), FILE, OTHER
    real: str  # the file it leads to, symbolic links followed


@dataclass(frozen=True)
class TargetFile:
    """A path the program used that the tree does not provide: the target's own is used."""

    path: str
    how: str  # the first use: opened, probed, executed or mapped
    found: bool  # it exists on this machine
    writing: bool  # the program opened it for writing
    by: str  # the program that used it first


@dataclass(frozen=True)
class TracedPlacement:
    """What tracing found: files for the tree, and what the programs take from the target."""

    additions: tuple[Addition, ...] = ()  # for the tree, each found_by TRACE
    from_target: tuple[TargetFile, ...] = ()


def program_prefix(program: str, bin_dir: str) -> str | None:
    """The directory a tree stands for, by default: the program's directory less as many
    levels as BIN_DIR has (`/usr` for /usr/bin/python3.11 and BIN_DIR `bin`); None when
    that would be `/`, which would make the whole system part of the tree."""
    directory = os.path.dirname(os.path.abspath(program))
    for _ in os.path.normpath(bin_dir).split("/"):
        directory = os.path.dirname(directory)
    return None if directory == "/" else directory


def under(path: str, prefix: str | None) -> bool:
    """`path` is under the prefix, or the prefix itself (the tree's top)."""
    return prefix is not None and (path == prefix or path.startswith(prefix.rstrip("/") + "/"))


def place_traced(trace: Trace, prefix: str | None, facts: Mapping[str, PathFacts],
                 bundled: Collection[str]) -> TracedPlacement:
    """The extra files of a tree, and what its programs take from the target.  `facts`
    holds every path of the trace (and each `by`); `bundled`: the real paths of the
    programs given to bundle."""
    place = _Placement(prefix, facts)
    ours = set(bundled)
    for access in trace.accesses:  # programs first: what they map counts too
        if access.found and place.kind(access) == PROGRAM and place.inside(access.path) and not access.writing:
            if place.real(access.path) not in ours:
                ours.add(place.real(access.path))
                place.add(Addition(access.path, ADDED_PROGRAM, TRACE, place.rel(access.path)))
    mapped = {place.real(a.path) for a in trace.used(MAPPED) if place.real(a.by) in ours}
    skipped = ours | mapped  # placed as programs or shared objects: not again as files opened
    for access in trace.accesses:
        if access.how == MAPPED:
            if place.real(access.by) in ours and place.real(access.path) not in ours:
                place.add_library(access)
        elif place.real(access.path) not in skipped:
            place.use(access)
    return TracedPlacement(tuple(place.additions.values()), tuple(place.target.values()))


class _Placement:
    def __init__(self, prefix: str | None, facts: Mapping[str, PathFacts]) -> None:
        self.prefix, self.facts = prefix, facts
        self.additions: dict[str, Addition] = {}
        self.target: dict[str, TargetFile] = {}

    def inside(self, path: str) -> bool:
        return under(path, self.prefix)

    def rel(self, path: str) -> str:
        return os.path.relpath(path, self.prefix)

    def kind(self, access: Access) -> str:
        return self.facts[access.path].kind

    def real(self, path: str) -> str:
        return self.facts[path].real

    def add(self, addition: Addition) -> None:
        self.additions.setdefault(addition.dest or addition.source, addition)

    def add_library(self, access: Access) -> None:
        dest = self.rel(access.path) if self.inside(access.path) else None
        self.add(Addition(access.path, SHARED_OBJECT, TRACE, dest, loaded_by=access.by))

    def use(self, access: Access) -> None:
        """An opened, probed or executed path: copied when the prefix holds it, else the target's."""
        kind = self.kind(access)
        if not access.found or kind == MISSING:
            if not self.inside(access.path):
                self._from_target(access, found=False)
        elif not self.inside(access.path) or access.writing or not self.inside(self.real(access.path)):
            self._from_target(access, found=True)
        elif kind == LIBRARY and access.how != EXECUTED:
            self.add_library(access)
        elif kind == DIRECTORY and access.how != EXECUTED:
            if access.path != self.prefix:  # the top of the tree is there anyway
                self.add(Addition(access.path, ADDED_DIRECTORY, TRACE, self.rel(access.path)))
        elif kind in (FILE, LIBRARY):
            self.add(Addition(access.path, DATA, TRACE, self.rel(access.path)))
        else:
            self._from_target(access, found=True)

    def _from_target(self, access: Access, found: bool) -> None:
        known = self.target.get(access.path)
        if known is None:
            self.target[access.path] = TargetFile(access.path, access.how, found, access.writing, access.by)
        elif (found and not known.found) or (access.writing and not known.writing):
            self.target[access.path] = TargetFile(known.path, known.how, known.found or found,
                                                  known.writing or access.writing, known.by)
