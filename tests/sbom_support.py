"""Reading a tree's SBOM in tests: strictly validated against CycloneDX 1.6 by
cyclonedx-python-lib, its components by name and their relinterp: properties."""

from __future__ import annotations

import json
from pathlib import Path

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

SBOM = "sbom.cdx.json"


def validate(document: str) -> None:
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(document)
    assert errors is None, str(errors)[:3000]


def components(tree: Path) -> dict[str, dict]:
    return {c["name"]: c for c in json.loads((tree / SBOM).read_text())["components"]}


def prop(component: dict, name: str) -> str | None:
    return next((p["value"] for p in component.get("properties", ()) if p["name"] == f"relinterp:{name}"), None)


def listed_sha256(component: dict) -> str | None:
    return next((h["content"] for h in component.get("hashes", ()) if h["alg"] == "SHA-256"), None)
