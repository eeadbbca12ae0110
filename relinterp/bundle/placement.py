"""Where the libraries a tree's closures reached go, and the directories each ELF file of
the tree must search to find what it needs there.

A file with a place of its own keeps it: the programs, an install prefix's files, an
addition with a destination.  Every other library goes to LIB_DIR under each name it
was asked for: the first a real file, the others relative symbolic links.  The
directories a file's needs landed in become its search path (`$ORIGIN`-relative; see
relinterp.loaders.searchpath).

A library in LIB_DIR gets a list of its own only where the loader would not find its
needs otherwise: musl searches the lists of every object up the needed-by chain, and
glibc passes the programs' DT_RPATH along it, unless the library has a DT_RUNPATH of its
own (which stops that), so such a library gets LIB_DIR added; and any library gets the
tree directories outside LIB_DIR that its needs landed in.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..elf.linked import LinkedObject
from ..elf.searchlist import RPATH
from ..errors import RelinterpError, TreeConflictError, UnsupportedError
from ..loaders.closure import FILE, Closure, Resolution, file_key
from ..loaders.family import GLIBC
from ..loaders.searchpath import SearchPathChange, current_tag, plan_search_path
from .additions import INTERPRETER, NEEDED
from .inputs import Input
from .treefile import ALIAS, DIRECTORY, LIBRARY, LOADER_FILE, PROGRAM, TreeFile

if TYPE_CHECKING:
    from .plan import LoaderChoice


@dataclass
class Layout:
    """What already has a place in the tree: STAGE's files by their path under it, and
    every ELF file with a place of its own by the file it is."""

    lib_dir: str
    stage_roots: tuple[str, ...] = ()  # STAGE as given and with its links resolved, absolute
    placed: dict[tuple[int, int] | None, list[str]] = field(default_factory=dict)  # file -> its places

    def in_stage(self, path: str) -> str | None:
        full = os.path.normpath(os.path.abspath(path))
        for root in self.stage_roots:
            if full.startswith(root + "/"):
                return full[len(root) + 1:]
        return None

    def dest_of(self, r: Resolution) -> str | None:
        """Where the tree holds the file `r` found, when it has a place of its own; None
        when it is a library from outside (it goes to LIB_DIR)."""
        inside = self.in_stage(r.path)
        if inside is not None:
            return inside
        places = self.placed.get(file_key(r.path), [])
        named = [p for p in places if os.path.basename(p) == os.path.basename(r.name)]
        return named[0] if named else places[0] if places and r.dlopen else None


@dataclass
class Outside:
    """The libraries from outside: the tree files they became, and where each file's needs landed."""

    files: dict  # dest -> TreeFile, the tree's other files included
    libraries: dict[str, LinkedObject] = field(default_factory=dict)  # LIB_DIR dest -> the library (real files)
    needs: dict[tuple[int, int] | None, list[str]] = field(default_factory=dict)  # file -> directories
    dlopened_in_lib_dir: bool = False  # a dlopen()ed library went to LIB_DIR: the programs search it


def place_outside(layout: Layout, closures: Iterable[Closure], found_by: dict[str, str], files: dict,
                  problems: list[RelinterpError]) -> Outside:
    """Put each library the closures reached that has no place into LIB_DIR (`files`
    holds the tree's other files, the loader's among them) and note where every needed
    name landed.  `found_by`: how each name given to dlopen came in."""
    outside = Outside(files)
    by_source = {os.path.realpath(f.source): dest for dest, f in files.items() if f.role in (LIBRARY, LOADER_FILE)}
    for closure in closures:
        objects = {file_key(o.path): o for o in closure.objects}
        for r in closure.resolutions:
            if r.kind != FILE:
                continue
            dest = layout.dest_of(r)
            if dest is None:
                dest = _lib_dir_place(r, objects[file_key(r.path)], layout.lib_dir, outside, by_source,
                                      found_by.get(r.name, NEEDED) if r.dlopen else NEEDED, problems)
                outside.dlopened_in_lib_dir |= r.dlopen and dest is not None
            if dest is not None and not r.dlopen:
                _add(outside.needs, file_key(r.needed_by), os.path.dirname(dest))
    return outside


def _lib_dir_place(r: Resolution, obj: LinkedObject, lib_dir: str, outside: Outside, by_source: dict,
                   found_by: str, problems: list) -> str | None:
    if "/" in r.name and not r.dlopen:
        problems.append(UnsupportedError(r.needed_by, f"NEEDED {r.name} is a path: it cannot move with the tree"))
        return None
    dest = os.path.join(lib_dir, os.path.basename(r.name))
    real = os.path.realpath(r.path)
    known = outside.files.get(dest)
    if known is not None and known.source is not None and os.path.realpath(known.source) != real:
        problems.append(TreeConflictError(dest, f"two different files for one name: {known.source} and {obj.path}"))
        return None
    if known is None and real in by_source:
        outside.files[dest] = TreeFile(dest, ALIAS, link=os.path.relpath(by_source[real], os.path.dirname(dest)),
                                        found_by=found_by)
    elif known is None:
        by_source[real] = dest
        outside.libraries[dest] = obj
        outside.files[dest] = TreeFile(dest, LIBRARY, source=obj.path, found_by=found_by,
                                        executable=bool(os.stat(real).st_mode & 0o111))
    return dest


def library_list(obj: LinkedObject, dest: str, lib_dir: str, needs: list[str], glibc: bool) -> SearchPathChange | None:
    """The list of a library from outside, placed at `dest` in LIB_DIR (see the module's note)."""
    own_runpath = glibc and obj.runpath is not None and bool(obj.needed)
    dirs = ([lib_dir] if own_runpath else []) + [d for d in needs if d != os.path.normpath(lib_dir)]
    return plan_search_path(obj, dest, dirs, current_tag(obj) if glibc else None)


def _add(needs: dict, key, directory: str) -> None:
    where = needs.setdefault(key, [])
    if directory not in where:
        where.append(directory)


def place_files(inputs: list[Input], closures: dict, loader: LoaderChoice | None, layout: Layout,
                found_by: dict, problems: list, embed: bool = False) -> dict[str, TreeFile]:
    """Every file of the tree: the loader (unless `embed`: in each program), the inputs
    where they are placed, the libraries from outside in LIB_DIR; then each ELF file's
    search path."""
    files: dict[str, TreeFile] = {}
    embedded = loader.file if loader is not None and embed else None
    loader_dest = os.path.join(layout.lib_dir, loader.name) if loader and not embedded else None
    if loader_dest is not None:
        files[loader_dest] = TreeFile(loader_dest, LOADER_FILE, source=loader.file, executable=True,
                                      found_by=INTERPRETER)
    for item in inputs:
        if item.object is not None:
            layout.placed.setdefault(file_key(item.entry.source), []).append(item.entry.dest)
        if item.entry.dest == loader_dest:
            problems.append(TreeConflictError(loader_dest, f"two different files for one name: {loader.file} "
                                                           f"and {item.entry.source}"))
        else:
            files[item.entry.dest] = _input_file(item)
    outside = place_outside(layout, closures.values(), found_by, files, problems)
    glibc = loader is not None and loader.family == GLIBC
    for item in inputs:
        if item.object is not None:
            files[item.entry.dest] = _with_list(files[item.entry.dest], item, outside, layout, loader_dest, glibc,
                                                embedded)
    for dest, obj in outside.libraries.items():
        needs = outside.needs.get(file_key(obj.path), [])
        files[dest] = replace(files[dest], search_path=library_list(obj, dest, layout.lib_dir, needs, glibc))
    return files


def _input_file(item: Input) -> TreeFile:
    entry = item.entry
    if item.role == ALIAS:
        return TreeFile(entry.dest, ALIAS, link=entry.link, found_by=item.found_by)
    executable = item.role == PROGRAM or bool((entry.mode or 0) & 0o111)
    return TreeFile(entry.dest, item.role, source=None if item.role == DIRECTORY else entry.source,
                    executable=executable, found_by=item.found_by, mode=entry.mode)


def _with_list(tree_file: TreeFile, item: Input, outside, layout: Layout, loader_dest: str | None,
               glibc: bool, embedded: str | None = None) -> TreeFile:
    """A program or shared object of the tree with its search path (and a program with
    its loader, at loader_dest or the file `embedded` in it): the directories its needs
    landed in."""
    obj, dest = item.object, item.entry.dest
    dirs = list(outside.needs.get(file_key(item.entry.source), []))
    if item.role == LIBRARY:
        if glibc and os.path.dirname(dest) == layout.lib_dir and obj.runpath is None:
            dirs = [d for d in dirs if d != layout.lib_dir]  # as a library from outside: the RPATH chain finds it
        return replace(tree_file, search_path=plan_search_path(obj, dest, dirs, current_tag(obj) if glibc else None))
    if not item.dynamic:
        return replace(tree_file, search_path=plan_search_path(obj, dest, None))
    if outside.dlopened_in_lib_dir:
        dirs.append(layout.lib_dir)
    search_path = plan_search_path(obj, dest, dirs, RPATH if glibc else None)
    if embedded is not None:
        return replace(tree_file, search_path=search_path, embed_loader=embedded)
    return replace(tree_file, search_path=search_path,
                   loader_rel=os.path.relpath(loader_dest, os.path.dirname(dest) or "."))
