"""The shared-library closure of a program: every file its loader maps at start-up (and
for the names it dlopen()s), found by that loader's own search rules.

The walk is the loader's: breadth first in load order, a name already loaded is not
searched again, a file reached under a second name (same device and inode) is the same
object.  Where to look, which names the loader provides itself, and which found files it
takes differ between C libraries: a `LoaderRules` says it.  relinterp.loaders.musl has musl's,
relinterp.loaders.glibc glibc's (its order of RPATH, LD_LIBRARY_PATH and RUNPATH, RUNPATH not
passed along the needed-by chain, ld.so.cache, files for another machine skipped, an
object answering to its SONAME).

The rules know the file system the loader sees (`rules.sysroot`, relinterp.loaders.sysroot).
`confined`: that is the whole world, as in an empty root that holds only a tree: a file
outside it counts as absent.  Otherwise, with a sysroot, a file found outside it (and
outside the build machine's directory it was found in) is refused by name (OUTSIDE):
no file of this machine goes into a tree for another.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Optional, Protocol

from ..elf.linked import LinkedObject, read_linked_object
from .sysroot import Sysroot

LOADER = "loader"  # a Resolution's `kind`: the loader itself provides the name
FILE = "file"  # found as a file
MISSING = "missing"  # not found anywhere the loader looks
OUTSIDE = "outside"  # found, but outside the sysroot: refused


@dataclass
class Node:
    """One loaded object and the object whose NEEDED (or dlopen) brought it in."""

    object: LinkedObject
    needed_by: Optional[Node]
    kernel_mapped: bool = False  # the program itself: its $ORIGIN comes from /proc/self/exe

    def origin(self, proc: bool) -> str | None:
        """$ORIGIN as the loader computes it: for the program, the directory of
        /proc/self/exe (unknown without /proc); for a library, that of the path it was
        loaded by."""
        if self.kernel_mapped:
            return os.path.dirname(os.path.realpath(self.object.path)) if proc else None
        return os.path.dirname(self.object.path) or "."

    def chain(self) -> Iterator[Node]:
        node: Node | None = self
        while node is not None:
            yield node
            node = node.needed_by


class LoaderRules(Protocol):
    """How one loader finds libraries."""

    loader: str | None  # the loader's file: a library found to be that file is the loader
    by_soname: bool  # a name equal to a loaded object's SONAME is that object (glibc, not musl)
    sysroot: Sysroot  # the file system the loader sees

    def provides(self, name: str) -> bool:
        """The loader answers to this name itself (no file is searched)."""

    def candidates(self, name: str, needer: Node) -> Iterator[tuple[str, str]]:
        """The files tried, in order, for a name `needer` asks for: (where, path) pairs,
        `where` being the directory searched (or a cache file) as an error names it; an
        empty path: `where` was consulted and offered nothing."""

    def dlopen_needer(self, program: Node) -> Node:
        """The object a dlopen() of a bare name is searched for (its rules apply)."""

    def accepts(self, path: str, needer: Node) -> bool:
        """A file found in the search is taken (musl: always, even for another machine;
        glibc skips files that do not match the needing object)."""


@dataclass(frozen=True)
class Resolution:
    name: str  # the NEEDED string, or the name/path given to dlopen
    needed_by: str  # path of the object asking for it
    kind: str  # LOADER, FILE, MISSING or OUTSIDE
    path: str | None = None  # where it was found (the loader's spelling), for FILE and OUTSIDE
    searched: tuple[str, ...] = ()  # the directories tried, for MISSING; where it was found, for OUTSIDE
    dlopen: bool = False  # asked for by dlopen() (--include), not by a NEEDED entry


@dataclass
class Closure:
    program: LinkedObject
    objects: list[LinkedObject] = field(default_factory=list)  # load order, program first
    resolutions: list[Resolution] = field(default_factory=list)

    @property
    def missing(self) -> list[Resolution]:
        return [r for r in self.resolutions if r.kind == MISSING]

    @property
    def outside(self) -> list[Resolution]:
        return [r for r in self.resolutions if r.kind == OUTSIDE]

    def libraries(self) -> dict[str, str]:
        """name -> path of every file the names resolved to (first resolution wins)."""
        found: dict[str, str] = {}
        for r in self.resolutions:
            if r.kind == FILE and r.name not in found:
                found[r.name] = r.path
        return found


def file_key(path: str) -> tuple[int, int] | None:
    """The file `path` leads to (device, inode), the same under each of its names; None: no file."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


class _Walk:
    """One loader's view of one process: what is loaded so far, in order."""

    def __init__(self, rules: LoaderRules, confined: bool, excluded: Sequence[str]) -> None:
        self.rules, self.confined, self.excluded = rules, confined, tuple(excluded)
        self.sysroot = rules.sysroot
        self.nodes: list[Node] = []
        self.by_name: dict[str, Node] = {}
        self.by_soname: dict[str, Node] = {}
        self.by_file: dict[tuple[int, int], Node] = {}
        self.loader_key = file_key(rules.loader) if rules.loader else None

    def add(self, obj: LinkedObject, needed_by: Node | None, name: str | None, key, kernel_mapped=False) -> Node:
        node = Node(obj, needed_by, kernel_mapped)
        self.nodes.append(node)
        self.by_file[key] = node
        if name is not None:
            self.by_name[name] = node
        if self.rules.by_soname and obj.soname:
            self.by_soname.setdefault(obj.soname, node)
        return node

    def load(self, name: str, needer: Node, given: bool = False) -> Resolution:
        """`name` as `needer` asks for it; `given`: a path of this machine (--include),
        not one of the target."""
        who = needer.object.path
        if self.rules.provides(name):
            return Resolution(name, who, LOADER)
        if "/" in name:  # a path: opened as it is, relative to the working directory
            path = name if given else self.sysroot.locate(name)
            path, searched = (path if self._present(path) else None), ()
        elif name in self.by_name or name in self.by_soname:
            return Resolution(name, who, FILE, (self.by_name.get(name) or self.by_soname[name]).object.path)
        else:
            path, searched = self._search(name, needer)
            if path is not None and searched:
                return Resolution(name, who, OUTSIDE, path, searched)
        if path is None:
            return Resolution(name, who, MISSING, searched=searched)
        key = file_key(path)
        if key == self.loader_key:  # the loader under another name (musl: a libc by path)
            return Resolution(name, who, LOADER, path)
        if key not in self.by_file:
            short = os.path.basename(path) if "/" not in name else None
            self.add(read_linked_object(path), needer, short, key)
        elif "/" not in name:
            self.by_name.setdefault(name, self.by_file[key])
        return Resolution(name, who, FILE, path)

    def _search(self, name: str, needer: Node) -> tuple[str | None, tuple[str, ...]]:
        """(path, ()) for the file found; (path, (where,)) for one found outside the
        sysroot; (None, directories searched) when there is none."""
        searched = []
        for where, candidate in self.rules.candidates(name, needer):
            if where not in searched:
                searched.append(where)
            candidate = self.sysroot.resolve(candidate) if candidate else candidate
            if candidate and self._present(candidate) and self.rules.accepts(candidate, needer):
                return (candidate, ()) if self.sysroot.admits(candidate, where) else (candidate, (where,))
        return None, tuple(searched)

    def _present(self, path: str) -> bool:
        if self.confined and not self.sysroot.holds(path):
            return False
        return os.path.exists(path)

    def is_excluded(self, name: str) -> bool:
        return any(fnmatchcase(name, pattern) or fnmatchcase(os.path.basename(name), pattern)
                   for pattern in self.excluded)


def resolve_closure(program: str | LinkedObject, rules: LoaderRules, *, dlopen: Iterable[str] = (),
                    confined: bool = False, excluded: Sequence[str] = ()) -> Closure:
    """The objects the loader maps for `program`, then for each name in `dlopen` (a bare
    name is searched like dlopen(name); a path is opened as it is).  NEEDED names that
    match an `excluded` glob are left unresolved and not followed."""
    obj = program if isinstance(program, LinkedObject) else read_linked_object(program)
    walk = _Walk(rules, confined, excluded)
    head = walk.add(obj, None, None, file_key(obj.path), kernel_mapped=True)
    closure = Closure(program=obj)
    done = _link(walk, closure, 0)
    for name in dlopen:
        if not walk.is_excluded(name):
            closure.resolutions.append(replace(walk.load(name, rules.dlopen_needer(head), given=True), dlopen=True))
            done = _link(walk, closure, done)
    closure.objects = [node.object for node in walk.nodes]
    return closure


def _link(walk: _Walk, closure: Closure, start: int) -> int:
    """Load the NEEDED names of every node from `start` on, breadth first, as the loader
    does (each object's names in order, new objects appended to the list it walks)."""
    index = start
    while index < len(walk.nodes):
        node = walk.nodes[index]
        for name in node.object.needed:
            if not walk.is_excluded(name):
                closure.resolutions.append(walk.load(name, node))
        index += 1
    return index
