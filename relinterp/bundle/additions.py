"""Files a release tree takes in besides the programs (or the install prefix) and their
link closure: libraries named with --include, what a traced run loaded, ran or read,
what glibc loads by name.  Each says where it goes and how it came in, so that the
planner places it like the rest, and the tree's record and bill of materials can say
why a file is there.

Where an addition goes: `dest`, a path inside the tree; None sends a shared object to
LIB_DIR (under its file name, found there through the search path LIB_DIR already is)
and a program to BIN_DIR.  Data and directories need a `dest`.  A shared object or
program is bundled like the others: its libraries come along, a program is patched, each
gets the `$ORIGIN`-relative search path it needs where it lands.  A shared object is
taken in as `loaded_by` (a program of the tree, by its path on this machine) would
dlopen() it: what it needs is searched by that program's rules (the first program's
when None or not a program of the tree).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import OptionError, ReadError, RelinterpError, TreeConflictError
from .treefile import inside_tree

# What an addition is.
SHARED_OBJECT, PROGRAM, DATA, DIRECTORY = "shared-object", "program", "data", "directory"
ROLES = (SHARED_OBJECT, PROGRAM, DATA, DIRECTORY)

# How a file came into the tree (TreeFile.found_by); the last three are additions'.
ARGUMENT = "argument"  # a program named on the command line
STAGE = "stage"  # a file of the install prefix bundled as a tree
NEEDED = "needed"  # a DT_NEEDED entry of a file in the tree, found by the loader's rules
INTERPRETER = "interpreter"  # the loader: the programs' PT_INTERP, or --loader
INCLUDE = "include"  # --include: a library the programs dlopen()
TRACE = "trace"  # seen loaded, run or read by a traced run of the programs
GLIBC_BY_NAME = "glibc-by-name"  # what glibc itself dlopen()s by name (libgcc_s.so.1, NSS modules)


@dataclass(frozen=True)
class Addition:
    """One file to put in the tree."""

    source: str  # the file on this machine (a symbolic link is followed: its file is copied)
    role: str  # SHARED_OBJECT, PROGRAM, DATA or DIRECTORY (made, with the source directory's mode)
    found_by: str  # how it came in: INCLUDE, TRACE, GLIBC_BY_NAME, ...
    dest: str | None = None  # inside the tree; None: a shared object to LIB_DIR, a program to BIN_DIR
    loaded_by: str | None = None  # SHARED_OBJECT: the program that dlopen()s it (None: the first)


def check_additions(additions: Iterable[Addition], problems: list[RelinterpError]) -> list[Addition]:
    """The additions that can be placed, with `dest` normalised; a problem for each one
    that cannot, and for two different files sent to one place."""
    usable: dict[str, Addition] = {}
    for addition in additions:
        checked = _check(addition, problems)
        if checked is None:
            continue
        key = checked.dest or f"{checked.role}:{os.path.basename(checked.source)}"
        known = usable.get(key)
        if known is None:
            usable[key] = checked
        elif os.path.realpath(known.source) != os.path.realpath(checked.source):
            problems.append(TreeConflictError(checked.dest or checked.source, f"two different files for one place: "
                                                                              f"{known.source} and {checked.source}"))
    return list(usable.values())


def _check(addition: Addition, problems: list[RelinterpError]) -> Addition | None:
    if addition.role not in ROLES:
        problems.append(OptionError(addition.source, f"unknown role {addition.role!r} (one of {', '.join(ROLES)})"))
        return None
    directory = addition.role == DIRECTORY
    if not (os.path.isdir if directory else os.path.isfile)(addition.source):
        why = "does not exist" if not os.path.lexists(addition.source) else \
            "is not a directory" if directory else "is not a file"
        problems.append(ReadError(addition.source, f"{why} ({addition.found_by})"))
        return None
    if addition.dest is None:
        if addition.role in (DATA, DIRECTORY):
            problems.append(OptionError(addition.source, f"{addition.role} needs a place in the tree "
                                                         f"({addition.found_by})"))
            return None
        return addition
    dest = os.path.normpath(addition.dest)
    if not inside_tree(addition.dest):
        problems.append(OptionError(addition.source, f"{addition.dest!r} is not a path inside the tree "
                                                     f"({addition.found_by})"))
        return None
    return Addition(addition.source, addition.role, addition.found_by, dest, addition.loaded_by)
