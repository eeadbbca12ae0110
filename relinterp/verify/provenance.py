"""verify's check of a tree against its SBOM (relinterp.sbom): every path the SBOM lists is
in the tree with the SHA-256 it lists, and every file and symbolic link in the tree is
listed.  A tree without an SBOM (bundled with --no-sbom, or by a relinterp that wrote
none) is not a failure: verify notes that its files were not checked against one.
"""

from __future__ import annotations

import os

from ..sbom import ABOUT_THE_TREE, SBOM_NAME
from ..sbom.digests import sha256_of
from ..sbom.listing import SbomError, read_listing

CHECK = "sbom"


def sbom_problems(tree: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(failures, notes), each a list of (path in the tree, message)."""
    document = os.path.join(tree, SBOM_NAME)
    if not os.path.lexists(document):
        return [], [(SBOM_NAME, "this tree has no SBOM: its files were not checked against one (bundled with "
                                "--no-sbom, or by a relinterp that wrote none)")]
    try:
        listed = read_listing(document)
    except SbomError as error:
        return [(SBOM_NAME, str(error))], []
    present = _tree_entries(tree)
    problems = []
    for path in sorted(set(listed) | present):
        if path not in present:
            problems.append((path, f"listed in {SBOM_NAME}, missing from the tree"))
        elif path not in listed:
            problems.append((path, f"not listed in {SBOM_NAME}"))
        else:
            why = _differs(os.path.join(tree, path), listed[path])
            if why:
                problems.append((path, why))
    return problems, []


def _differs(path: str, expected: str | None) -> str | None:
    if not os.path.isfile(path):
        return "not a file any more (a symbolic link to nothing?)"
    try:
        actual = sha256_of(path)
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    if expected is not None and actual != expected:
        return f"changed since bundling: sha256 {actual}, {SBOM_NAME} lists {expected}"
    return None


def _tree_entries(tree: str) -> set[str]:
    """Every file and symbolic link in the tree but the SBOM and bundle's record, relative
    to the tree."""
    # a link to a directory is no file: what is in the directory is listed
    entries = {os.path.relpath(os.path.join(directory, name), tree)
               for directory, _, files in os.walk(tree) for name in files}
    return entries - ABOUT_THE_TREE
