"""One entry of a release tree as planned: where it goes, what it is, where its bytes come
from and what is done to them there."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..loaders.searchpath import SearchPathChange

PROGRAM, LIBRARY, LOADER_FILE, ALIAS = "program", "library", "loader", "alias"
DATA, DIRECTORY = "data", "directory"  # an install prefix's other files, and its directories


def inside_tree(path: str) -> bool:
    """`path` names a place below a tree's top: relative, neither the top itself ("" and
    "." are) nor above it."""
    norm = os.path.normpath(path)
    return not os.path.isabs(path) and norm not in (".", "..") and not norm.startswith("../")


@dataclass(frozen=True)
class TreeFile:
    dest: str  # path inside the tree
    role: str  # PROGRAM, LIBRARY, LOADER_FILE, ALIAS, DATA or DIRECTORY
    source: str | None = None  # the file whose bytes it gets (the input as given)
    link: str | None = None  # ALIAS: what the symbolic link says
    search_path: SearchPathChange | None = None  # None: RPATH/RUNPATH left as they are
    loader_rel: str | None = None  # PROGRAM: the loader, relative to the program's directory
    embed_loader: str | None = None  # PROGRAM: the loader file embedded in it instead (--embed-loader)
    executable: bool = False
    found_by: str | None = None  # how it came in (relinterp.bundle.additions: ARGUMENT, NEEDED, TRACE, ...)
    mode: int | None = None  # permission bits kept from STAGE; None: 0755 if executable, else 0644

    @property
    def copied(self) -> bool:
        """Its bytes are copied into the tree (a link or directory has none)."""
        return self.role not in (ALIAS, DIRECTORY)

    @property
    def file_mode(self) -> int:
        return self.mode if self.mode is not None else 0o755 if self.executable else 0o644
