"""An SBOM read back: the paths of the tree it lists and the SHA-256 each should have.

A file's component (relinterp.sbom.describe) names every path in the tree holding its bytes
as an occurrence: the file itself, then the symbolic links to it.  Components without
occurrences (the tree, the tool) list no path.
"""

from __future__ import annotations

import json
from typing import Any

from ..elf.regular import open_regular
from .model import SHA256

MAX_BYTES = 256 << 20  # some 250,000 files' worth; verify's memory stays bounded whatever a tree holds


class SbomError(ValueError):
    """The file is not an SBOM this module can read; the message says why."""


def read_listing(path: str) -> dict[str, str | None]:
    """path in the tree -> its SHA-256 as listed (None: listed without one)."""
    try:
        with open_regular(path) as stream:  # never a wait on a FIFO put in its place
            text = stream.read(MAX_BYTES + 1)
    except OSError as error:
        raise SbomError(f"cannot be read ({error.strerror})") from None
    if len(text) > MAX_BYTES:
        raise SbomError(f"larger than {MAX_BYTES >> 20} MiB: not read")
    try:
        document = json.loads(text)
    except ValueError as error:
        raise SbomError(f"not JSON ({error})") from None
    except RecursionError:
        raise SbomError("not JSON this reader takes (nested too deeply)") from None
    if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX":
        raise SbomError("not a CycloneDX document")
    components = document.get("components", [])
    if not isinstance(components, list):
        raise SbomError("malformed: components is not a list")
    listed: dict[str, str | None] = {}
    for component in components:
        digest = _sha256(component)
        for location in _locations(component):
            listed[location] = digest
    return listed


def _locations(component: Any) -> list[str]:
    evidence = component.get("evidence") if isinstance(component, dict) else None
    occurrences = evidence.get("occurrences") if isinstance(evidence, dict) else None
    if not isinstance(occurrences, list):
        return []
    return [o["location"] for o in occurrences if isinstance(o, dict) and isinstance(o.get("location"), str)]


def _sha256(component: Any) -> str | None:
    hashes = component.get("hashes") if isinstance(component, dict) else None
    for entry in hashes if isinstance(hashes, list) else ():
        if isinstance(entry, dict) and entry.get("alg") == SHA256 and isinstance(entry.get("content"), str):
            return entry["content"]
    return None
