"""What verify found wrong, and where: a finding names a path relative to the tree."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    path: str  # relative to the tree where it is inside
    check: str  # file, loader, libraries, search-path, symlink, machine, relocations, run
    message: str


def relative(path: str, tree: str) -> str:
    """`path` relative to the tree when it lies there (by name), else as it is."""
    full = os.path.abspath(path)
    return os.path.relpath(full, tree) if full.startswith(tree.rstrip("/") + "/") else full
