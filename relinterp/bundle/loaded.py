"""Which of the shared objects a traced run mapped were loaded at run time, and how.

A trace shows every object the loader mapped, the start-up closure's too: strace cannot
tell a dlopen() from the loader's own work.  The programs' closures can: an object one of
them holds came in at start-up and stays where the closure puts it.  Of the others, one
the loader would find by its file name, as dlopen("libfoo.so.1") from the program
searches, goes to LIB_DIR, where that search finds it in the tree; one found by a path
keeps the place the trace gave it (relinterp.bundle.traced).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

from ..elf.linked import LinkedObject, read_linked_object
from ..errors import RelinterpError
from ..loaders.closure import FILE, LoaderRules, resolve_closure
from .additions import PROGRAM, SHARED_OBJECT, Addition


def run_time_loads(additions: Sequence[Addition], programs: Sequence[LinkedObject], rules: LoaderRules,
                   excluded: Sequence[str] = ()) -> list[Addition]:
    """`additions` without the libraries of the start-up closures of the programs (those
    given, and those the trace added), with those loaded by name sent to LIB_DIR."""
    loaders = {os.path.realpath(p.path): p for p in [*programs, *_added_programs(additions)] if p.interp is not None}
    if not loaders:
        return list(additions)  # static programs: nothing is loaded
    start_up = {os.path.realpath(o.path) for p in loaders.values()
                for o in resolve_closure(p, rules, excluded=excluded).objects}
    later = [a for a in additions if a.role != SHARED_OBJECT or os.path.realpath(a.source) not in start_up]
    by_name = set()
    for program in loaders.values():
        mine = [a for a in later if a.role == SHARED_OBJECT and _loader_of(a, loaders, program)]
        by_name |= _found_by_name(program, mine, rules, excluded)
    return [replace(a, dest=None) if a.source in by_name else a for a in later]


def _added_programs(additions: Sequence[Addition]) -> list[LinkedObject]:
    found = []
    for addition in additions:
        if addition.role == PROGRAM:
            try:
                found.append(read_linked_object(addition.source))
            except RelinterpError:
                pass  # the plan refuses it, by name
    return found


def _loader_of(addition: Addition, loaders: dict[str, LinkedObject], program: LinkedObject) -> bool:
    """`program` loaded `addition` (a library loaded by a program not bundled counts as the first's)."""
    by = loaders.get(os.path.realpath(addition.loaded_by or ""), next(iter(loaders.values())))
    return by is program


def _found_by_name(program: LinkedObject, additions: list[Addition], rules: LoaderRules,
                   excluded: Sequence[str]) -> set[str]:
    """The sources of `additions` that dlopen(their file name) from `program` would find."""
    if not additions:
        return set()
    names = {os.path.basename(a.source): a.source for a in additions}
    probe = resolve_closure(program, rules, dlopen=list(names), excluded=excluded)
    return {names[r.name] for r in probe.resolutions if r.dlopen and r.kind == FILE and r.name in names
            and os.path.realpath(r.path) == os.path.realpath(names[r.name])}
