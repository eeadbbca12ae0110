"""What a tree holds, as its maker describes it to the SBOM: each file with the file its
bytes came from and how it came in, and which file needs which.  Nothing here knows how
the tree was planned: bundle builds an Inventory from its plan, and anything else that
adds files to a tree says the same three things about them.
"""

from __future__ import annotations

from typing import NamedTuple

# What a file is: its CycloneDX component type follows from it.
PROGRAM, LIBRARY, LOADER, DATA = "program", "library", "loader", "file"
COMPONENT_TYPES = {PROGRAM: "application", LIBRARY: "library", LOADER: "library", DATA: "file"}

# How a file came in (any other word a maker uses is written as it is):
ARGUMENT = "argument"  # a program named on the command line (bundle's APP...)
NEEDED = "needed"  # a NEEDED entry of another file in the tree (the dependencies say whose)
INTERPRETER = "interpreter"  # the loader: the programs' PT_INTERP, or bundle --loader
INCLUDE = "include"  # bundle --include (a library the programs dlopen())


class ShippedFile(NamedTuple):
    path: str  # in the tree, relative to its top
    kind: str  # PROGRAM, LIBRARY, LOADER or DATA
    came_in: str  # ARGUMENT, NEEDED, INTERPRETER, INCLUDE, or the maker's own word
    source: str | None = None  # the file whose bytes it got (absolute); None: made in the tree
    links: tuple[str, ...] = ()  # other paths in the tree that are symbolic links to it
    changes: tuple[str, ...] = ()  # what was changed in its bytes on the way in
    parts: tuple[str, ...] = ()  # files (absolute) whose bytes went whole into it: a program's embedded loader


class Tool(NamedTuple):
    name: str
    version: str
    parts: tuple[tuple[str, str], ...] = ()  # (name, sha256) of what it adds to files: relinterp's stubs


class Inventory(NamedTuple):
    name: str  # the tree's own name (its directory's)
    files: tuple[ShippedFile, ...]
    needs: tuple[tuple[str, str], ...] = ()  # (path, path of a file it needs)
