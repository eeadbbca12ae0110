"""Files a bundle gets beyond its programs' link closure, each with where it goes in the
tree and how it came in (for example, found by tracing a run: relinterp.bundle.traced),
and how the plan takes them in (`extend_plan`).

- a program is bundled like the programs given, at its place, patched to find the
  loader relative to itself, with its own closure in LIB_DIR;
- a library is placed with its closure in LIB_DIR: at its place when it has one, in
  LIB_DIR under its file name when it has none; one the closure already holds stays
  where the closure put it;
- a file is copied byte for byte with its mode; a directory is made.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..elf.linked import LinkedObject, read_linked_object
from ..elf.searchlist import RPATH
from ..errors import MissingLibraryError, RelinterpError, TreeConflictError, UnsupportedError
from ..loaders.closure import resolve_closure
from ..loaders.family import GLIBC, libc_family
from ..loaders.rules import loader_rules
from ..loaders.searchpath import plan_search_path
from .plan import DATA, DIRECTORY, LIBRARY, LOADER_FILE, PROGRAM, BundlePlan, LoaderChoice, TreeFile, \
    _library_list, _place_library, _read_program

EXTRA_PROGRAM, EXTRA_LIBRARY, EXTRA_FILE, EXTRA_DIRECTORY = "program", "library", "file", "directory"


@dataclass(frozen=True)
class Extra:
    source: str  # the file on this machine, as the program named it
    dest: str | None  # where it goes, relative to the tree; None: LIB_DIR, under its file name
    role: str  # EXTRA_PROGRAM, EXTRA_LIBRARY, EXTRA_FILE or EXTRA_DIRECTORY
    why: str  # how it came in, for the report: "loaded by /usr/bin/python3.11"
    needed_by: str | None = None  # EXTRA_LIBRARY: the program that loads it (its loader's rules apply)


def extend_plan(plan: BundlePlan, programs: list[LinkedObject], loader: LoaderChoice | None,
                extras: Sequence[Extra], problems: list) -> BundlePlan:
    """`plan` with `extras` placed in it; problems (a program that cannot be bundled, a
    library not found, two files for one place) are added to `problems`."""
    tree = _Tree(plan, loader, problems)
    for extra in extras:
        if extra.role == EXTRA_PROGRAM:
            tree.add_program(extra)
    programs = programs + tree.helpers
    for needer, libraries in _by_needer([e for e in extras if e.role == EXTRA_LIBRARY], programs).items():
        if loader is not None:
            tree.add_libraries(needer, libraries)
    for extra in extras:
        if extra.role in (EXTRA_FILE, EXTRA_DIRECTORY):
            tree.add_file(extra)
    files = tuple(tree.files[k] for k in sorted(tree.files))
    return replace(plan, files=files, closures=tree.closures)


def _by_needer(libraries: list[Extra], programs: list[LinkedObject]) -> dict[LinkedObject, list[Extra]]:
    """The libraries grouped by the program that loads them (the first dynamic program
    for one loaded by another)."""
    dynamic = {os.path.realpath(p.path): p for p in programs if p.interp is not None}
    groups: dict[LinkedObject, list[Extra]] = {}
    for extra in libraries:
        needer = dynamic.get(os.path.realpath(extra.needed_by or ""), next(iter(dynamic.values()), None))
        if needer is not None:
            groups.setdefault(needer, []).append(extra)
    return groups


class _Tree:
    def __init__(self, plan: BundlePlan, loader: LoaderChoice | None, problems: list) -> None:
        self.options, self.loader, self.problems = plan.options, loader, problems
        self.lib_dir = os.path.normpath(plan.options.lib_dir)
        self.files = {f.dest: f for f in plan.files}
        self.by_source = {os.path.realpath(f.source): f.dest for f in plan.files
                          if f.source and f.role in (PROGRAM, LIBRARY, LOADER_FILE)}
        self.closures = dict(plan.closures)
        self.helpers: list[LinkedObject] = []
        self.glibc = loader is not None and loader.family == GLIBC
        self.rules = (loader_rules(loader.family, loader.known_as, loader.object,
                                   library_path=plan.options.library_path, sysroot=plan.options.root)
                      if loader else None)

    def add_program(self, extra: Extra) -> None:
        obj = _read_program(extra.source, self.problems)
        if obj is None or not self._free(extra.dest, obj.path):
            return
        if obj.interp is None:
            change = plan_search_path(obj, extra.dest, None)
            self._put(TreeFile(extra.dest, PROGRAM, source=extra.source, search_path=change, executable=True))
            return
        if self.loader is None or libc_family(obj.interp) != self.loader.family:
            self.problems.append(UnsupportedError(extra.source, f"{extra.why}, but needs another loader than the "
                                                                "programs given: bundle it into a tree of its own"))
            return
        closure = resolve_closure(obj, self.rules, excluded=self.options.exclude)
        self._note_missing(closure, extra)
        self.closures[obj.path] = closure
        self.helpers.append(obj)
        loader_dest = os.path.join(self.lib_dir, self.loader.name)
        change = plan_search_path(obj, extra.dest, self.lib_dir if closure.libraries() else None,
                                  RPATH if self.glibc else None)
        self._put(TreeFile(extra.dest, PROGRAM, source=extra.source, search_path=change,
                           loader_rel=os.path.relpath(loader_dest, os.path.dirname(extra.dest)), executable=True))
        self._place_closure(closure)

    def add_libraries(self, needer: LinkedObject, extras: list[Extra]) -> None:
        """dlopen() of each, by path, from `needer`: its closure, with each placed."""
        fresh = [e for e in extras if os.path.realpath(e.source) not in self.by_source]
        if not fresh:
            return
        closure = resolve_closure(needer, self.rules, dlopen=[e.source for e in fresh], excluded=self.options.exclude)
        self._note_missing(closure, None)
        self.closures[f"{needer.path} (at run time)"] = closure
        for extra in fresh:
            if extra.dest is not None and self._free(extra.dest, extra.source):
                self._put_library(read_linked_object(extra.source), extra.dest)
        self._place_closure(closure)

    def add_file(self, extra: Extra) -> None:
        if extra.role == EXTRA_DIRECTORY:
            if extra.dest not in self.files:
                self.files[extra.dest] = TreeFile(extra.dest, DIRECTORY)
        elif self._free(extra.dest, extra.source):
            executable = bool(os.stat(extra.source).st_mode & 0o111)
            self.files[extra.dest] = TreeFile(extra.dest, DATA, source=extra.source, executable=executable)

    def _put_library(self, obj: LinkedObject, dest: str) -> None:
        """Its libraries are found through the programs' list, passed on to what they load
        (musl: every list; glibc: RPATH), unless a RUNPATH of its own stops that: the
        plan's rule for a library, wherever it lies."""
        change = _library_list(obj, dest, self.lib_dir, self.glibc)
        self._put(TreeFile(dest, LIBRARY, source=obj.path, search_path=change,
                           executable=bool(os.stat(obj.path).st_mode & 0o111)))

    def _place_closure(self, closure) -> None:
        for obj in closure.objects[1:]:
            if os.path.realpath(obj.path) not in self.by_source or self._in_lib_dir(obj):
                _place_library(obj, closure, self.lib_dir, self.files, self.by_source, self.problems, self.glibc)

    def _in_lib_dir(self, obj: LinkedObject) -> bool:
        """Placed in LIB_DIR already: it may be needed under another name too (an alias)."""
        return os.path.dirname(self.by_source[os.path.realpath(obj.path)]) == self.lib_dir

    def _put(self, item: TreeFile) -> None:
        self.files[item.dest] = item
        if item.source:
            self.by_source.setdefault(os.path.realpath(item.source), item.dest)

    def _free(self, dest: str, source: str) -> bool:
        """`dest` holds nothing yet (or this very file): else a problem."""
        known = self.files.get(dest)
        if known is None:
            return True
        if known.source is None or os.path.realpath(known.source) != os.path.realpath(source):
            self.problems.append(TreeConflictError(dest, f"two different files for one place: "
                                                         f"{known.source or known.link} and {source}"))
        return False

    def _note_missing(self, closure, extra: Extra | None) -> None:
        for r in closure.missing:
            where = f"; searched {', '.join(r.searched)}" if r.searched else ""
            what = f"{r.name} not found (needed by {r.needed_by}{where})"
            self.problems.append(MissingLibraryError(closure.program.path if extra is None else extra.source, what))
