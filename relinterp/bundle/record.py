"""The record a release tree keeps of itself: every path `bundle` made in it, in a file at
its top.  Running bundle again over the tree replaces it only when everything there is
in that record, so that a file someone put in the tree since (or a directory that was
never a bundle) is not deleted with it.

A tree without a record, made before trees kept one, is replaced when it holds nothing
but BIN_DIR, LIB_DIR and its SBOM, as then.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from ..errors import RelinterpError, TreeConflictError
from ..sbom import RECORD_NAME, SBOM_NAME

RECORD = RECORD_NAME
RECORD_FORMAT = 1
SHOWN = 5  # unknown paths named in a refusal


def record_bytes(paths: Iterable[str]) -> bytes:
    """The record of a tree made of `paths` (relative; their directories are added)."""
    made = set()
    for path in paths:
        while path and path not in made:
            made.add(path)
            path = os.path.dirname(path)
    document = {"relinterp_bundle_record": RECORD_FORMAT, "paths": sorted(made)}
    return (json.dumps(document, indent=1) + "\n").encode()


def replace_problem(output: str, legacy_dirs: Iterable[str]) -> RelinterpError | None:
    """Why the existing `output` must not be replaced by a new tree, if it must not."""
    if not os.path.lexists(output):
        return None
    if os.path.islink(output) or not os.path.isdir(output):
        return TreeConflictError(output, "exists and is not a directory: not replacing it")
    record = os.path.join(output, RECORD)
    if not os.path.lexists(record):
        return _legacy_problem(output, legacy_dirs)
    made = _recorded(record)
    if isinstance(made, str):
        return TreeConflictError(output, f"its record {RECORD} cannot be read ({made}): not replacing it")
    unknown = [path for path in _paths(output) if path not in made and path != RECORD]
    if unknown:
        shown = ", ".join(unknown[:SHOWN]) + (", ..." if len(unknown) > SHOWN else "")
        return TreeConflictError(output, f"holds files bundle did not make ({shown}): not replacing it; "
                                         "remove them or choose another directory")
    return None


def _legacy_problem(output: str, legacy_dirs: Iterable[str]) -> RelinterpError | None:
    ours = {os.path.normpath(d).split("/")[0] for d in legacy_dirs} | {SBOM_NAME}
    others = sorted(set(os.listdir(output)) - ours)
    if not others:
        return None
    shown = ", ".join(others[:SHOWN]) + (", ..." if len(others) > SHOWN else "")
    return TreeConflictError(output, f"exists and holds more than a bundle ({shown}): not replacing "
                                     "it; remove it or choose another directory")


def _recorded(record: str) -> set[str] | str:
    """The paths a record names, or why it cannot be read."""
    try:
        if os.path.islink(record) or not os.path.isfile(record):
            return "not a file"
        with open(record, encoding="utf-8") as stream:
            document = json.load(stream)
    except OSError as error:
        return error.strerror or str(error)
    except ValueError:
        return "not JSON"
    if not isinstance(document, dict) or document.get("relinterp_bundle_record") != RECORD_FORMAT:
        return f"not a record of format {RECORD_FORMAT}"
    paths = document.get("paths")
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        return f"not a record of format {RECORD_FORMAT}"
    return set(paths)


def _paths(tree: str) -> list[str]:
    """Every path under `tree`, relative, sorted; symbolic links are not followed."""
    found = []
    for directory, dirs, files in os.walk(tree):
        for name in dirs + files:
            found.append(os.path.relpath(os.path.join(directory, name), tree))
    return sorted(found)
