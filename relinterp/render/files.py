"""What patch, restore and inspect print: each result as text for people (stdout and
stderr), and the --json document of a run for machines (each result's part of it is
its own to_json(), relinterp.report).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence

from .. import __version__
from ..loaders.family import libc_family
from ..report import (SCHEMA, ALREADY_PATCHED, ERROR, INSPECTED, PATCHED, RESTORED, RESTORED_NOT_EXACT, SAME_FILE,
                     SKIPPED, WOULD_PATCH, FileError, Inspection, PatchResult, RestoreResult,
                     SameFile, Skipped)

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which costs `relinterp patch` the import of typing
if TYPE_CHECKING:
    from typing import Any

    from ..report import FileResult
    from ..rewrite.candidates import LoaderCandidate

# In the order the summary line lists them.
LABELS = {
    PATCHED: "patched", WOULD_PATCH: "to patch", ALREADY_PATCHED: "already patched", RESTORED: "restored",
    RESTORED_NOT_EXACT: "restored but not byte-exact", INSPECTED: "inspected", SKIPPED: "skipped",
    SAME_FILE: "duplicates", ERROR: "failed",
}


def candidates(chosen: Iterable[LoaderCandidate]) -> str:
    """Loader candidates as the stub resolves them: $ORIGIN/REL or /ABS."""
    return ", ".join(map(str, chosen))


def render(result: FileResult, verbose: bool) -> tuple[list[str], list[str]]:
    """The lines for stdout and for stderr that report one file."""
    if isinstance(result, FileError):
        return [], [result.message]
    if isinstance(result, PatchResult):
        return _patch(result, verbose), [f"{result.path}: warning: {warning}" for warning in result.warnings]
    if isinstance(result, RestoreResult):
        return _restore(result)
    if isinstance(result, Inspection):
        return _inspection(result, verbose), []
    if isinstance(result, SameFile):
        if result.linked:
            return [f"{result.path}: hard link to {result.same_as}, linked to the rewritten file"], []
        return ([f"{result.path}: same file as {result.same_as}"] if verbose else []), []
    if isinstance(result, Skipped):
        return ([f"{result.path}: skipped, {result.reason}"] if verbose else []), []
    raise TypeError(f"no text for {result!r}")


def summary_line(results: Sequence[FileResult]) -> str:
    counts = Counter(r.status for r in results)
    parts = [f"{counts[status]} {label}" for status, label in LABELS.items() if counts[status]]
    files = f"{len(results)} file" + ("" if len(results) == 1 else "s")
    return f"relinterp: {files}" + (f": {', '.join(parts)}" if parts else "")


def _in_place(result: PatchResult | RestoreResult) -> bool:
    return result.output == os.path.realpath(result.path)


def _patch(result: PatchResult, verbose: bool) -> list[str]:
    embedded = result.embedded
    loader = f"(loader: {candidates(result.candidates)})" if embedded is None else \
        f"(loader embedded: {embedded.family or 'unknown'}{' ' + embedded.version if embedded.version else ''})"
    into = "" if _in_place(result) else f" into {result.output}"
    if result.status == PATCHED:
        lines = [f"{result.path}: patched{into} {loader}"]
    elif result.status == WOULD_PATCH:
        lines = [f"{result.path}: would be patched{into} {loader}; nothing written (--dry-run)"]
    elif result.written:
        lines = [f"{result.output}: written; {result.path} was already patched {loader}"]
    else:
        lines = [f"{result.path}: already patched {loader}, unchanged"]
    if verbose or result.status == WOULD_PATCH:
        seg = result.segment
        growth = result.size_after - result.size_before
        lines += [
            f"  interpreter was {result.interpreter} (libc: {libc_family(result.interpreter)}); "
            f"machine {result.machine}, {result.elf_type}",
            f"  stub segment: file offset {seg.offset:#x}, address {seg.vaddr:#x}, {seg.size} bytes, "
            f"align {seg.align:#x}",
            f"  size: {result.size_before} -> {result.size_after} bytes (+{growth})",
        ]
        lines += [f"  candidate {n}: {c.describe()}" for n, c in enumerate(result.candidates, 1)]
        if embedded is not None:
            lines.append(f"  embedded loader: {embedded.describe()}; file offset {embedded.offset:#x}, "
                         f"address {embedded.base:#x}")
    return lines


def _restore(result: RestoreResult) -> tuple[list[str], list[str]]:
    into = "" if _in_place(result) else f" into {result.output}"
    if result.exact:
        return [f"{result.path}: restored{into} ({result.size_after} bytes, as before patching: SHA-256 "
                f"verified)"], []
    return ([f"{result.path}: restored{into}: PT_INTERP {result.interpreter} is back, it runs with "
             f"the system loader"],
            [f"{result.path}: warning: not the byte-exact original; the file changed after it was patched, "
             f"so its original bytes are lost ({'; '.join(result.differences)})"])


def _inspection(result: Inspection, verbose: bool) -> list[str]:
    order = "little" if result.little_endian else "big"
    kind = f"{result.elf_type}{' (PIE)' if result.pie else ''}"
    lines = [f"{result.path}: ELF {result.elfclass}-bit {order}-endian {result.machine} {kind}, "
             f"libc: {result.libc or 'none'}"]
    patch = result.patch
    if patch is None:
        lines.append(f"  interpreter: {result.interpreter or 'none'}")
        lines.append("  patched: no; " + ("can be patched" if result.patchable
                                          else f"cannot be patched: {result.not_patchable_reason}"))
    else:
        stub = patch.stub
        made_by = f"relinterp {stub.relinterp}" if stub.relinterp else "another relinterp version"
        found = f"loader candidates: {candidates(patch.candidates)}" if patch.embedded is None else \
            f"loader embedded: {patch.embedded.describe()}"
        lines += [
            f"  patched: yes, {found}",
            *(f"  candidate {n}: {c.describe()}" for n, c in enumerate(patch.candidates, 1) if verbose),
            f"  original interpreter: {patch.original_interpreter or 'unknown'}",
            f"  stub: {made_by} (config schema {stub.config_schema}), {stub.size} bytes, sha256 {stub.sha256}",
            "  restore: " + ("byte-exact (SHA-256 verified)" if patch.exact_restore else
                             "not byte-exact (changed since it was patched); gives a working file"),
            *(f"  changed since patching: {change}" for change in patch.changes),
        ]
        if verbose:
            seg = patch.segment
            lines.append(f"  stub segment: file offset {seg.offset:#x}, address {seg.vaddr:#x}, "
                         f"{seg.size} bytes, align {seg.align:#x}")
            if patch.embedded is not None:
                lines.append(f"  embedded loader: file offset {patch.embedded.offset:#x}, "
                             f"address {patch.embedded.base:#x}")
    lines += [f"  note: {note}" for note in result.notes]
    lines.append(f"  needed: {', '.join(result.needed) or 'none'}")
    for name, value in (("runpath", result.runpath), ("rpath", result.rpath)):
        if value is not None:
            lines.append(f"  {name}: {value}")
    return lines


def summary(results: Iterable[FileResult]) -> dict[str, int]:
    """How many files ended in each status, and in all."""
    counts = Counter(r.status for r in results)
    return {"files": sum(counts.values()), **dict(sorted(counts.items()))}


def document(command: str, results: list[FileResult], exit_code: int, **fields: Any) -> dict[str, Any]:
    """The --json document: one per run, whatever the number of files."""
    return {
        "relinterp": __version__, "schema": SCHEMA, "command": command, **fields,
        "files": [r.to_json() for r in results], "summary": summary(results), "exit_code": exit_code,
    }
