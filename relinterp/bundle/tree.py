"""`relinterp bundle STAGE -o DIR`: a release tree that mirrors an install prefix
(`cmake --install build --prefix STAGE`, `make install DESTDIR=STAGE`).

Every file keeps its path under STAGE and its mode, every symbolic link its relative
text (relinterp.bundle.walk).  Every ELF program, wherever it is, is patched to find the
loader by its own relative path; every program and shared object gets the
`$ORIGIN`-relative search path that finds its needs: the tree's own libraries first
(relinterp.bundle.treeindex), the others brought into LIB_DIR with the loader.  The
planning and its checks are the same as for programs named one by one
(relinterp.bundle.plan).
"""

from __future__ import annotations

import os

from ..errors import RelinterpError, TreeConflictError
from .additions import STAGE
from .plan import BundleOptions, BundlePlan, FilesKnown, check_output, plan_placed
from .walk import walk_stage


def plan_tree(stage: str, output: str, options: BundleOptions = BundleOptions(),
              files_known: FilesKnown | None = None) -> BundlePlan:
    """Decide the tree that mirrors the directory `stage`, or raise BundleError listing
    every problem found (`files_known`: as for relinterp.bundle.plan.plan_bundle)."""
    problems: list[RelinterpError] = []
    check_output(output, options, problems)
    _check_apart(stage, output, problems)
    entries = walk_stage(stage, options.copy_outside_links, problems)
    return plan_placed([(entry, STAGE, None) for entry in entries], output, options, problems, stage=stage,
                       files_known=files_known)


def _check_apart(stage: str, output: str, problems: list[RelinterpError]) -> None:
    """The tree is made beside STAGE, never over it or inside it."""
    source, target = os.path.realpath(stage), os.path.realpath(output)
    if target == source:
        problems.append(TreeConflictError(output, "is STAGE itself: bundle makes a new tree beside it; "
                                                  "name another directory"))
    elif target.startswith(source.rstrip("/") + "/"):
        problems.append(TreeConflictError(output, f"lies inside STAGE {stage}: the tree would hold itself"))
    elif source.startswith(target.rstrip("/") + "/"):
        problems.append(TreeConflictError(stage, f"lies inside {output}, which bundle replaces"))
