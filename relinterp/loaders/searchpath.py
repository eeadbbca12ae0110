"""RPATH/RUNPATH entries seen from inside a release tree: which stay inside it when the
tree moves, and what a file's list must become so its libraries are found there.

Only `$ORIGIN`-relative entries move with the tree.  An absolute entry, one relative to
the working directory, or one that climbs out of the tree names a directory of whatever
machine the tree lands on: the loader would search it (before the tree's own lib
directory, if it comes first) and could load a stranger's library.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from ..elf.linked import LinkedObject
from ..elf.searchlist import RUNPATH, origin_relative, other_tokens, search_list, split_list


@dataclass(frozen=True)
class SearchPathChange:
    value: str | None  # the new list; None removes DT_RPATH and DT_RUNPATH
    reason: str
    tag: str = RUNPATH  # which entry holds the new list: RUNPATH, or RPATH (glibc passes it on)


def origin_entry(dest: str, directory: str) -> str:
    """The `$ORIGIN` entry that names tree directory `directory` from the file at `dest`."""
    rel = os.path.relpath(directory, os.path.dirname(dest) or ".")
    return "$ORIGIN" if rel == "." else f"$ORIGIN/{rel}"


def entry_in_tree(entry: str, dest: str) -> str | None:
    """The tree directory (relative, normalised) an entry of the file at `dest` names;
    None when it does not stay inside the tree."""
    rest = origin_relative(entry)
    if rest is None:
        return None
    path = os.path.normpath(os.path.join(os.path.dirname(dest), rest))
    if path == ".." or path.startswith("../"):
        return None
    return path


def current_tag(obj: LinkedObject) -> str | None:
    """The entry the loader takes the object's list from (RUNPATH wins when both exist)."""
    return search_list(obj.runpath, obj.rpath)[0]


def plan_search_path(obj: LinkedObject, dest: str, lib_dirs: Sequence[str] | None,
                     tag: str | None = None) -> SearchPathChange | None:
    """What the list of `obj`, placed at `dest`, must become: entries that leave the tree
    dropped, and each of `lib_dirs` (tree directories) the list does not name yet
    searched first, in their order.  `tag`: the entry that must hold the list (None:
    either).  None when it is fine as it is: the file is then left untouched."""
    change = _plan_entries(obj, dest, list(lib_dirs or ()))
    if tag is None:
        return change
    if change is None:
        if obj.search_path is None or current_tag(obj) == tag:
            return None
        return SearchPathChange(obj.search_path, f"{current_tag(obj)} becomes {tag}: "
                                                 "glibc passes only RPATH on to the libraries", tag)
    return SearchPathChange(change.value, change.reason, tag)


def _plan_entries(obj: LinkedObject, dest: str, lib_dirs: list[str]) -> SearchPathChange | None:
    text = obj.search_path or ""
    entries = split_list(text)
    if other_tokens(text):
        entries = []  # a token the loader does not expand: it ignores the whole list
    kept = [e for e in entries if entry_in_tree(e, dest) is not None]
    named = {entry_in_tree(e, dest) for e in kept}
    missing = list(dict.fromkeys(d for d in map(os.path.normpath, lib_dirs) if d not in named))
    wanted = [origin_entry(dest, d) for d in missing] + kept
    if wanted == split_list(text):
        return None
    dropped = [e for e in split_list(text) if e not in kept]
    if not wanted:
        return SearchPathChange(None, f"removed {text!r}: it leaves the tree")
    if dropped:
        return SearchPathChange(":".join(wanted), f"{':'.join(dropped)} leaves the tree")
    return SearchPathChange(":".join(wanted), f"finds its libraries in {', '.join(missing)}")
