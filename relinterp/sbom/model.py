"""The parts of a CycloneDX 1.6 JSON document that relinterp writes, and the one function
that serialises them (https://cyclonedx.org/docs/1.6/json/).

The same model always gives the same bytes: keys in a fixed order, lists in the order the
model holds them (callers sort), no timestamp unless one is given, and a serial number
derived from the rest of the document (an RFC 4122 name-based UUID), so that two SBOMs are
the same document exactly when their contents are.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any, NamedTuple, Optional

SCHEMA = "http://cyclonedx.org/schema/bom-1.6.schema.json"
SPEC_VERSION = "1.6"
SHA256 = "SHA-256"  # the spec's name of the algorithm
SERIAL_NAMESPACE = uuid.UUID("8c2d7c3e-2b0e-5a55-9f4c-72656c696e74")  # relinterp's: any fixed UUID does


class License(NamedTuple):
    """A license as the package declares it: an SPDX identifier where it is one, else its name."""

    id: Optional[str] = None
    name: Optional[str] = None

    def to_json(self) -> dict[str, Any]:
        key = "id" if self.id else "name"
        return {"license": {key: self.id or self.name, "acknowledgement": "declared"}}


class Property(NamedTuple):
    name: str
    value: str


class Component(NamedTuple):
    type: str  # application, library, file, operating-system
    name: str
    bom_ref: Optional[str] = None
    version: Optional[str] = None
    description: Optional[str] = None
    sha256: Optional[str] = None
    licenses: tuple[License, ...] = ()
    purl: Optional[str] = None
    ancestors: tuple[Component, ...] = ()  # pedigree: what it was made from
    changes: Optional[str] = None  # pedigree notes: how it differs from its ancestors
    components: tuple[Component, ...] = ()  # its parts
    properties: tuple[Property, ...] = ()
    occurrences: tuple[str, ...] = ()  # evidence: where it is found (paths)

    def to_json(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"type": self.type, "bom-ref": self.bom_ref, "name": self.name,
                                  "version": self.version, "description": self.description}
        if self.sha256:
            fields["hashes"] = [{"alg": SHA256, "content": self.sha256}]
        if self.licenses:
            fields["licenses"] = [license.to_json() for license in self.licenses]
        fields["purl"] = self.purl
        if self.ancestors:
            fields["pedigree"] = {"ancestors": [a.to_json() for a in self.ancestors], "notes": self.changes}
        if self.components:
            fields["components"] = [c.to_json() for c in self.components]
        if self.occurrences:
            fields["evidence"] = {"occurrences": [{"location": where} for where in self.occurrences]}
        if self.properties:
            fields["properties"] = [{"name": p.name, "value": p.value} for p in self.properties]
        return {key: value for key, value in fields.items() if value is not None}


class Dependency(NamedTuple):
    ref: str
    depends_on: tuple[str, ...] = ()


class Bom(NamedTuple):
    root: Component  # what the document describes
    tools: tuple[Component, ...]  # what made it
    components: tuple[Component, ...]
    dependencies: tuple[Dependency, ...]
    timestamp: Optional[str] = None  # ISO 8601, UTC
    properties: tuple[Property, ...] = ()


def to_json(bom: Bom) -> bytes:
    """The document as UTF-8 JSON text, ending in a newline."""
    metadata: dict[str, Any] = {}
    if bom.timestamp:
        metadata["timestamp"] = bom.timestamp
    metadata["tools"] = {"components": [tool.to_json() for tool in bom.tools]}
    metadata["component"] = bom.root.to_json()
    if bom.properties:
        metadata["properties"] = [{"name": p.name, "value": p.value} for p in bom.properties]
    body = {
        "metadata": metadata,
        "components": [c.to_json() for c in bom.components],
        "dependencies": [{"ref": d.ref, "dependsOn": list(d.depends_on)} for d in bom.dependencies],
    }
    serial = uuid.uuid5(SERIAL_NAMESPACE, hashlib.sha256(_text(body).encode()).hexdigest())
    document = {"$schema": SCHEMA, "bomFormat": "CycloneDX", "specVersion": SPEC_VERSION,
                "serialNumber": serial.urn, "version": 1, **body}
    return (_text(document) + "\n").encode()


def _text(document: dict[str, Any]) -> str:
    # One line: json's C encoder writes it (with an indent, its Python one does, far slower
    # for a big tree); `jq . sbom.cdx.json` shows it indented.
    return json.dumps(document, ensure_ascii=True, separators=(",", ":"))
