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
from .extras import EXTRA_LIBRARY, EXTRA_PROGRAM, Extra


def run_time_loads(extras: Sequence[Extra], programs: Sequence[LinkedObject], rules: LoaderRules,
                   excluded: Sequence[str] = ()) -> list[Extra]:
    """`extras` without the libraries of the start-up closures of the programs (those
    given, and those the trace added), with those loaded by name sent to LIB_DIR."""
    loaders = {os.path.realpath(p.path): p for p in [*programs, *_added_programs(extras)] if p.interp is not None}
    if not loaders:
        return list(extras)  # static programs: nothing is loaded
    start_up = {os.path.realpath(o.path) for p in loaders.values()
                for o in resolve_closure(p, rules, excluded=excluded).objects}
    later = [e for e in extras if e.role != EXTRA_LIBRARY or os.path.realpath(e.source) not in start_up]
    by_name = set()
    for program in loaders.values():
        mine = [e for e in later if e.role == EXTRA_LIBRARY and _loader_of(e, loaders, program)]
        by_name |= _found_by_name(program, mine, rules, excluded)
    return [replace(e, dest=None) if e.source in by_name else e for e in later]


def _added_programs(extras: Sequence[Extra]) -> list[LinkedObject]:
    found = []
    for extra in extras:
        if extra.role == EXTRA_PROGRAM:
            try:
                found.append(read_linked_object(extra.source))
            except RelinterpError:
                pass  # the plan refuses it, by name
    return found


def _loader_of(extra: Extra, loaders: dict[str, LinkedObject], program: LinkedObject) -> bool:
    """`program` loaded `extra` (a library loaded by a program not bundled counts as the first's)."""
    by = loaders.get(os.path.realpath(extra.needed_by or ""), next(iter(loaders.values())))
    return by is program


def _found_by_name(program: LinkedObject, extras: list[Extra], rules: LoaderRules,
                   excluded: Sequence[str]) -> set[str]:
    """The sources of `extras` that dlopen(their file name) from `program` would find."""
    if not extras:
        return set()
    names = {os.path.basename(e.source): e.source for e in extras}
    probe = resolve_closure(program, rules, dlopen=list(names), excluded=excluded)
    return {names[r.name] for r in probe.resolutions if r.dlopen and r.kind == FILE and r.name in names
            and os.path.realpath(r.path) == os.path.realpath(names[r.name])}
