"""The prebuilt entry stubs shipped in relinterp/_stubs/, one per machine.

Built from stub/ by CMakeLists.txt; manifest.json records each blob's digest, size,
offsets and how it was built.  A blob is checked against its manifest before use.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache

from ..elf.record import CONFIG_SCHEMA
from ..errors import BrokenInstallationError

DEBUG_STATE_SIZE = 16  # stub/debug_hook.h
CODE_ALIGN = 16  # the alignment the blob's code asks for (debug_hook.h: .p2align 4)
STUBS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_stubs")  # package data


@dataclass(frozen=True)
class StubBlob:
    arch: str
    machine: str  # pyelftools' name, e.g. 'EM_X86_64'
    elfclass: int
    little_endian: bool
    code: bytes
    entry_offset: int
    config_offset: int
    sha256: str

    @property
    def debug_state_offset(self) -> int:
        """The stub's own `_dl_debug_state`: the last DEBUG_STATE_SIZE bytes of its code
        (stub/stub.ld; stub/blobtool.py checks it)."""
        return self.config_offset - DEBUG_STATE_SIZE


@lru_cache(maxsize=1)
def manifest() -> dict:
    with open(os.path.join(STUBS, "manifest.json"), encoding="utf-8") as stream:
        return json.load(stream)


def supported_arches() -> list[str]:
    return sorted(manifest()["stubs"])


@lru_cache(maxsize=None)
def load_stub(arch: str) -> StubBlob:
    data = manifest()
    entry = data["stubs"][arch]
    with open(os.path.join(STUBS, entry["file"]), "rb") as stream:
        code = stream.read()
    digest = hashlib.sha256(code).hexdigest()
    if data["config_schema"] != CONFIG_SCHEMA:
        raise BrokenInstallationError(f"stub {arch}: config schema {data['config_schema']}, expected {CONFIG_SCHEMA}")
    if digest != entry["sha256"] or len(code) != entry["size"]:
        raise BrokenInstallationError(f"stub {arch}: sha256 {digest} does not match the manifest")
    return StubBlob(
        arch=arch,
        machine=entry["machine"],
        elfclass=entry["elfclass"],
        little_endian=entry["byteorder"] == "little",
        code=code,
        entry_offset=entry["entry_offset"],
        config_offset=entry["config_offset"],
        sha256=digest,
    )


def stub_for(machine: str, elfclass: int, little_endian: bool) -> StubBlob | None:
    for arch in supported_arches():
        stub = load_stub(arch)
        if (stub.machine, stub.elfclass, stub.little_endian) == (machine, elfclass, little_endian):
            return stub
    return None
