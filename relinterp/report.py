"""What an operation did to one file, and the versioned --json document of a whole run.

Every result is a frozen dataclass with `to_json()`: the one source of the document's
shape, which relinterp/schema/report.schema.json describes (a test checks they agree).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import RelinterpError

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which costs `relinterp patch` the import of typing
if TYPE_CHECKING:
    from typing import Any, Union

    from .rewrite.candidates import LoaderCandidate

# Bumped when a field changes meaning or disappears; new fields keep the number.
SCHEMA = 1

PATCHED = "patched"
ALREADY_PATCHED = "already-patched"
WOULD_PATCH = "would-patch"  # --dry-run
RESTORED = "restored"
RESTORED_NOT_EXACT = "restored-not-exact"  # runs again, but not the original bytes
INSPECTED = "inspected"
SKIPPED = "skipped"  # found in a directory, not a file the command applies to
SAME_FILE = "same-file"  # another name (hard link) of a file listed before it
ERROR = "error"


@dataclass(frozen=True)
class StubSegment:
    """Where the stub is (or would go): its PT_LOAD."""

    offset: int
    vaddr: int
    size: int
    align: int

    def to_json(self) -> dict[str, Any]:
        return {"offset": self.offset, "vaddr": self.vaddr, "size": self.size, "align": self.align}


@dataclass(frozen=True)
class EmbeddedLoader:
    """The loader a program carries in its own file (patch --embed-loader)."""

    family: str | None  # "musl" or "glibc"; None for another loader
    soname: str | None  # its DT_SONAME (musl's has none)
    version: str | None  # musl's "1.2.3", glibc's build "Debian GLIBC 2.36-9+deb12u13 2.36 stable"
    sha256: str  # of its file as embedded
    size: int
    offset: int  # where its file lies in the program's
    base: int  # the link-time address of its ELF header in the program

    def describe(self) -> str:
        version = f" {self.version}" if self.version else ""
        soname = f" ({self.soname})" if self.soname else ""
        return f"{self.family or 'unknown loader'}{version}{soname}, {self.size} bytes, sha256 {self.sha256}"

    def to_json(self) -> dict[str, Any]:
        return {"family": self.family, "soname": self.soname, "version": self.version, "sha256": self.sha256,
                "size": self.size, "offset": self.offset, "base": self.base}


@dataclass(frozen=True)
class PatchResult:
    path: str  # the input
    status: str  # PATCHED, ALREADY_PATCHED or WOULD_PATCH
    output: str  # the file written, or that would be or was left as it is
    written: bool
    candidates: tuple[LoaderCandidate, ...]  # in the order the stub tries them
    interpreter: str  # the PT_INTERP the stub stands in for
    machine: str
    elf_type: str
    size_before: int  # of the unpatched program
    size_after: int
    segment: StubSegment
    embedded: EmbeddedLoader | None = None  # the loader embedded instead of candidates
    warnings: tuple[str, ...] = ()  # about its loaders as they are at patch time (missing, another machine)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "status": self.status, "output": self.output, "written": self.written,
            "candidates": candidates_json(self.candidates), "interpreter": self.interpreter,
            "machine": self.machine, "type": self.elf_type,
            "size": {"before": self.size_before, "after": self.size_after},
            "segment": self.segment.to_json(), "embedded_loader": _json_or_none(self.embedded),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class RestoreResult:
    path: str
    status: str  # RESTORED or RESTORED_NOT_EXACT
    output: str
    exact: bool  # the bytes the file had before it was patched (sha256 equal)
    interpreter: str | None  # the PT_INTERP put back
    size_before: int
    size_after: int
    differences: tuple[str, ...] = ()  # how the result differs from the original, where known

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "status": self.status, "output": self.output, "exact": self.exact,
            "interpreter": self.interpreter, "size": {"before": self.size_before, "after": self.size_after},
            "differences": list(self.differences),
        }


@dataclass(frozen=True)
class StubInfo:
    """The stub found in a patched file."""

    sha256: str
    size: int
    config_schema: int
    relinterp: str | None  # this relinterp's version if the stub is the one it ships, else None

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "config_schema": self.config_schema,
                "relinterp": self.relinterp}


@dataclass(frozen=True)
class PatchInfo:
    """What relinterp recorded in a patched file."""

    candidates: tuple[LoaderCandidate, ...]  # as recorded, with where they came from
    original_interpreter: str | None
    stub: StubInfo
    segment: StubSegment
    exact_restore: bool  # restore gives the original bytes: proven by the recorded SHA-256
    changes: tuple[str, ...] = ()  # recorded facts of the original the file no longer has
    embedded: EmbeddedLoader | None = None  # the loader it carries, instead of candidates

    def to_json(self) -> dict[str, Any]:
        return {"candidates": candidates_json(self.candidates), "original_interpreter": self.original_interpreter,
                "stub": self.stub.to_json(), "segment": self.segment.to_json(),
                "exact_restore": self.exact_restore, "changes": list(self.changes),
                "embedded_loader": _json_or_none(self.embedded)}


@dataclass(frozen=True)
class Inspection:
    path: str
    elfclass: int
    little_endian: bool
    machine: str
    elf_type: str
    pie: bool
    interpreter: str | None  # PT_INTERP as it is now (None once patched)
    libc: str | None  # from the (original) interpreter's name; None without one
    patch: PatchInfo | None
    patchable: bool  # `relinterp patch` would patch it (again, with other options)
    not_patchable_reason: str | None
    needed: tuple[str, ...]
    runpath: str | None
    rpath: str | None
    notes: tuple[str, ...] = ()  # what a tool run after patching did to the patch
    status: str = INSPECTED

    @property
    def patched(self) -> bool:
        return self.patch is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "status": self.status,
            "elf": {"class": self.elfclass, "byte_order": "little" if self.little_endian else "big",
                    "machine": self.machine, "type": self.elf_type, "pie": self.pie},
            "interpreter": self.interpreter, "libc": self.libc, "patched": self.patched,
            "patch": None if self.patch is None else self.patch.to_json(),
            "patchable": self.patchable, "not_patchable_reason": self.not_patchable_reason,
            "needed": list(self.needed), "runpath": _path_list(self.runpath), "rpath": _path_list(self.rpath),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Skipped:
    """A file found in a directory that the command does not apply to."""

    path: str
    reason: str
    status: str = SKIPPED

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "reason": self.reason}


@dataclass(frozen=True)
class SameFile:
    """Another name of a file already listed: it is processed once, under its first name."""

    path: str
    same_as: str
    linked: bool = False  # relinked to the rewritten file, so the names stay one file
    status: str = SAME_FILE

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "same_as": self.same_as, "linked": self.linked}


@dataclass(frozen=True)
class FileError:
    """Why a file was refused or could not be written; it is unchanged."""

    path: str
    kind: str  # RelinterpError.kind, or "broken-installation", "internal"
    message: str  # "PATH: reason", as printed on stderr
    exit_code: int
    status: str = ERROR

    @classmethod
    def of(cls, error: RelinterpError) -> FileError:
        return cls(path=error.path, kind=error.kind, message=str(error), exit_code=error.exit_code)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status,
                "error": {"kind": self.kind, "message": self.message, "exit_code": self.exit_code}}


if TYPE_CHECKING:
    FileResult = Union[PatchResult, RestoreResult, Inspection, Skipped, SameFile, FileError]


def candidates_json(candidates: Iterable[LoaderCandidate]) -> list[dict[str, Any]]:
    return [{"path": c.path, "kind": c.kind, "provenance": c.provenance, "derived_from": c.derived_from}
            for c in candidates]


def _json_or_none(value) -> dict[str, Any] | None:
    return None if value is None else value.to_json()


def _path_list(value: str | None) -> list[str] | None:
    return None if value is None else value.split(":")
