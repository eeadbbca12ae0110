"""The shared objects a tree already holds, by the file names a loader would open them by,
and the loader's rules with those searched first.

An install prefix ships its own libraries: `bin/app` needing `libcore.so` means the
tree's `lib/libcore.so`, wherever the build machine's search path would have looked
(no RUNPATH after `cmake --install`, or one naming the install prefix, which need not
exist here).  So a name the tree holds is taken from the tree, for every file, before
the loader's own search; the file then gets a search path naming that directory.  A
name the tree holds in two different files is left to the loader's search, which the
file's own `$ORIGIN` entries steer.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from ..loaders.closure import LoaderRules, Node


class TreeIndex:
    """name -> the one file of that name in the tree (its path as the tree spells it)."""

    def __init__(self, named: Iterable[tuple[str, str]]) -> None:
        """`named`: (path, key) of each shared object and of each symbolic link to one,
        `key` telling the file (device and inode) it is."""
        found: dict[str, dict[object, str]] = {}
        for path, key in named:
            found.setdefault(os.path.basename(path), {}).setdefault(key, path)
        self.unique = {name: next(iter(files.values())) for name, files in found.items() if len(files) == 1}

    def path(self, name: str) -> str | None:
        return self.unique.get(name)


class TreeFirstRules:
    """A loader's rules (relinterp.loaders.closure.LoaderRules), the tree's files first."""

    def __init__(self, rules: LoaderRules, index: TreeIndex) -> None:
        self.rules, self.index = rules, index
        self.loader, self.by_soname, self.sysroot = rules.loader, rules.by_soname, rules.sysroot

    def provides(self, name: str) -> bool:
        return self.rules.provides(name)

    def dlopen_needer(self, program: Node) -> Node:
        return self.rules.dlopen_needer(program)

    def accepts(self, path: str, needer: Node) -> bool:
        return self.rules.accepts(path, needer)

    def candidates(self, name: str, needer: Node) -> Iterator[tuple[str, str]]:
        ours = self.index.path(name)
        if ours is not None:
            yield os.path.dirname(ours), ours
        yield from self.rules.candidates(name, needer)
