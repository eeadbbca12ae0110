"""The libraries a tree's files need, found by the loader's own rules: one closure per
program, the first one also taking in what the programs dlopen() (--include, additions
for LIB_DIR, the tree's own shared objects, so that what they need is found too) and,
for glibc, what glibc itself loads by name (relinterp.bundle.byname).

The tree's shared objects are searched first, by the names they are found by
(relinterp.bundle.treeindex).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..elf.linked import LinkedObject
from ..errors import MissingLibraryError, OptionError, OutsideSysrootError
from ..loaders.closure import Closure, file_key, resolve_closure
from ..loaders.family import GLIBC
from ..loaders.rules import loader_rules
from .additions import INCLUDE, SHARED_OBJECT, Addition
from .byname import glibc_by_name
from .inputs import Input
from .treefile import ALIAS, LIBRARY
from .treeindex import TreeFirstRules, TreeIndex

if TYPE_CHECKING:
    from .plan import BundleOptions, LoaderChoice

GLOB_CHARS = frozenset("*?[")


def resolve_closures(programs: list[LinkedObject], loader: LoaderChoice, inputs: list[Input],
                     additions: list[Addition], options: BundleOptions, stage: str | None,
                     problems: list) -> tuple[dict[str, Closure], dict[str, str]]:
    """Each dynamic program's closure (by its path), and how each name given to dlopen
    came in."""
    rules = _tree_first(loader_rules(loader.family, loader.known_as, loader.object,
                                     library_path=options.library_path, sysroot=options.root), inputs, stage)
    found_by = _dlopen_names(inputs, additions, options, problems)
    lists = _dlopen_lists(programs, found_by, additions)
    closures = _closures(programs, rules, lists, options)
    if loader.family == GLIBC and options.glibc_by_name:
        _add_glibc_by_name(closures, programs[0], rules, lists, found_by, options)
    _missing(closures, inputs, problems)
    problems += [OutsideSysrootError(r.path, f"{r.name} (needed by {r.needed_by}): "
                                             f"{options.root.why_outside(r.path, r.searched[0])}")
                 for closure in closures.values() for r in closure.outside]
    return closures, found_by


def _tree_first(rules, inputs: list[Input], stage: str | None):
    """The loader's rules, with the shared objects the tree holds searched first."""
    libraries = {file_key(i.entry.source): _tree_path(i, stage) for i in inputs if i.role == LIBRARY}
    if not libraries:
        return rules
    named = [(path, key) for key, path in libraries.items()]
    for item in inputs:
        if item.role == ALIAS and stage is not None:
            path = _tree_path(item, stage)
            key = file_key(path)
            if key in libraries:
                named.append((path, key))
    return TreeFirstRules(rules, TreeIndex(named))


def _tree_path(item: Input, stage: str | None) -> str:
    """The path by which the tree's file is found: in STAGE (even for a link copied from
    outside), else where it comes from."""
    return os.path.join(stage, item.entry.dest) if stage is not None else item.entry.source


def _dlopen_names(inputs: list[Input], additions: list[Addition], options: BundleOptions,
                  problems: list) -> dict[str, str]:
    """What the first program's closure dlopen()s, in order, each with how it came in:
    --include, the shared objects added for LIB_DIR, and the tree's shared objects (so
    that what they need is found too)."""
    names = {name: INCLUDE for name in _expand_includes(options.include, problems)}
    names.update((a.source, a.found_by) for a in additions if a.role == SHARED_OBJECT and a.dest is None)
    names.update((i.entry.source, i.found_by) for i in inputs if i.role == LIBRARY)
    return names


def _dlopen_lists(programs: list[LinkedObject], names: dict[str, str],
                  additions: list[Addition]) -> dict[str, list[str]]:
    """Which program's closure takes in each name: an addition's, the program that loads
    it (when it is one of the tree's); every other, the first program's."""
    by_file = {os.path.realpath(p.path): p.path for p in programs}
    loaders = {a.source: by_file.get(os.path.realpath(a.loaded_by)) for a in additions if a.loaded_by}
    lists: dict[str, list[str]] = {}
    for name in names:
        lists.setdefault(loaders.get(name) or programs[0].path, []).append(name)
    return lists


def _closures(programs: list[LinkedObject], rules, lists: dict[str, list[str]],
              options: BundleOptions) -> dict[str, Closure]:
    closures: dict[str, Closure] = {}
    for program in programs:  # a file placed twice (a program and an addition) is one closure
        if program.path not in closures:
            closures[program.path] = resolve_closure(program, rules, dlopen=lists.get(program.path, ()),
                                                     excluded=options.exclude)
    return closures


def _add_glibc_by_name(closures: dict, first: LinkedObject, rules, lists: dict[str, list[str]],
                       found_by: dict[str, str], options: BundleOptions) -> None:
    """The first program's closure again, with what glibc loads by name (when that is new)."""
    have = {os.path.realpath(o.path) for c in closures.values() for o in c.objects}
    more = [a for a in glibc_by_name(closures[first.path], rules) if os.path.realpath(a.source) not in have]
    if more:
        found_by.update((a.source, a.found_by) for a in more)
        lists.setdefault(first.path, []).extend(a.source for a in more)
        closures[first.path] = resolve_closure(first, rules, dlopen=lists[first.path], excluded=options.exclude)


def _missing(closures: dict, inputs: list[Input], problems: list) -> None:
    """A problem per name not found, under the program (or the tree's library) needing it."""
    libraries = {i.entry.source for i in inputs if i.role == LIBRARY}
    for path, closure in closures.items():
        for r in closure.missing:
            where = f"; searched {', '.join(r.searched)}" if r.searched else ""
            why = f"--include {r.name}" if r.dlopen else f"{r.name}"
            by = "for dlopen" if r.dlopen else f"needed by {r.needed_by}"
            problems.append(MissingLibraryError(r.needed_by if r.needed_by in libraries else path,
                                                f"{why} not found ({by}{where})"))


def _expand_includes(include: Sequence[str], problems: list) -> list[str]:
    """A bare name stays a name (searched like dlopen(name)); a glob becomes its matches."""
    names = []
    for item in include:
        if not item:
            problems.append(OptionError("''", "--include: an empty name"))
        elif GLOB_CHARS & set(item):
            matches = sorted(glob.glob(item))
            if not matches:
                problems.append(MissingLibraryError(item, "--include: no file matches"))
            names += [m if "/" in m else f"./{m}" for m in matches]
        else:
            names.append(item)
    return names
