"""Results as text for people: what goes to stdout, and what to stderr.

Machines read --json instead (relinterp.report); this module only words it.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .loaders.family import libc_family

from .report import (ALREADY_PATCHED, ERROR, INSPECTED, PATCHED, RESTORED, RESTORED_NOT_EXACT, SAME_FILE,
                     SKIPPED, WOULD_PATCH, FileError, FileResult, Inspection, PatchResult, RestoreResult,
                     SameFile, Skipped)

if TYPE_CHECKING:
    from .rewrite.candidates import LoaderCandidate

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
        return _patch(result, verbose), []
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
    loader = f"(loader: {candidates(result.candidates)})"
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
    return lines


def _restore(result: RestoreResult) -> tuple[list[str], list[str]]:
    into = "" if _in_place(result) else f" into {result.output}"
    if result.exact:
        return [f"{result.path}: restored{into} ({result.size_after} bytes, as before patching)"], []
    return ([f"{result.path}: restored{into}: PT_INTERP {result.interpreter} is back, it runs with "
             f"the system loader"],
            [f"{result.path}: warning: not the byte-exact original; the file changed after it was "
             f"patched (stripped?), so its original bytes are lost"])


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
        lines += [
            f"  patched: yes, loader candidates: {candidates(patch.candidates)}",
            *(f"  candidate {n}: {c.describe()}" for n, c in enumerate(patch.candidates, 1) if verbose),
            f"  original interpreter: {patch.original_interpreter or 'unknown'}",
            f"  stub: {made_by} (config schema {stub.config_schema}), {stub.size} bytes, sha256 {stub.sha256}",
            "  restore: " + ("byte-exact" if patch.exact_restore else
                             "not byte-exact (changed since it was patched); gives a working file"),
        ]
        if verbose:
            seg = patch.segment
            lines.append(f"  stub segment: file offset {seg.offset:#x}, address {seg.vaddr:#x}, "
                         f"{seg.size} bytes, align {seg.align:#x}")
    lines.append(f"  needed: {', '.join(result.needed) or 'none'}")
    for name, value in (("runpath", result.runpath), ("rpath", result.rpath)):
        if value is not None:
            lines.append(f"  {name}: {value}")
    return lines


# ---------------------------------------------------------------- bundle

def bundle_lines(result, verbose: bool) -> list[str]:
    """A BundleResult (relinterp.bundle.assemble): every file with -v or --dry-run, then
    the tree and the archive."""
    from .bundle.plan import LIBRARY, LOADER_FILE, PROGRAM

    lines = [_tree_file(result.output, item) for item in result.files] if verbose or result.dry_run else []
    programs, libraries, loaders = (sum(f.role == role for f in result.files)
                                    for role in (PROGRAM, LIBRARY, LOADER_FILE))
    if result.dry_run:
        state = ("would replace the earlier tree" if result.replaced else "would be a new tree") + \
            "; nothing written (--dry-run)"
    else:
        state = "replaced the earlier tree" if result.replaced else "new tree"
    loader = " and the loader" if loaders else ""
    lines.append(f"{result.output}: {_count(programs, 'program', 'programs')}, "
                 f"{_count(libraries, 'library', 'libraries')}{loader} ({state})")
    if result.archive is not None:
        written = "would be written" if result.tar_entries is None else f"{result.tar_entries} entries"
        lines.append(f"{result.archive.path}: {written} ({result.archive.compression})")
    return lines


def _tree_file(output: str, item) -> str:
    from .bundle.plan import ALIAS, LOADER_FILE, PROGRAM

    where = f"{output}/{item.dest}"
    if item.role == ALIAS:
        return f"{where} -> {item.link}"
    notes = []
    if item.search_path is not None:
        change = item.search_path
        notes.append(f"{change.tag} {change.value}" if change.value else "RPATH/RUNPATH removed")
    if item.role == PROGRAM and item.loader_rel:
        notes.append(f"patched, loader $ORIGIN/{item.loader_rel}")
    if item.role == LOADER_FILE:
        notes.append("loader")
    return f"{where} <- {item.source}" + (f" ({'; '.join(notes)})" if notes else "")


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# ---------------------------------------------------------------- verify

def verify_lines(report) -> list[str]:
    """A TreeReport (relinterp.verify.check): one line per program and per failed check,
    prefixed by the tree as the user named it; the program's output indented with "|"."""
    tree = _tree_as_given(report)
    lines = []
    for program in report.programs:
        libs = _count(len(program.libraries), "library", "libraries")
        lines.append(f"{tree}: {program.path}: loader {program.loader or '-'}, {libs} inside the tree")
        if program.run is not None:
            status = "timed out" if program.run.status is None else f"exit status {program.run.status}"
            lines.append(f"{tree}: {program.path}: ran {' '.join(program.run.argv)} in an empty root: {status}")
            lines += [f"  | {line}" for line in (program.run.stdout + program.run.stderr).splitlines()]
    lines += [f"{tree}: NOTE {note.path}: {note.check}: {note.message}" for note in report.notes]
    failed = [f for p in report.programs for f in p.findings] + report.findings
    lines += [f"{tree}: FAIL {finding.path}: {finding.check}: {finding.message}" for finding in failed]
    lines.append(f"{report.target}: " + ("ok" if report.ok else f"FAILED ({_count(len(failed), 'problem', 'problems')})"))
    return lines


def _tree_as_given(report) -> str:
    """The tree as the user named it: the target itself when it is the tree, else the
    tree relative to the working directory when it lies there."""
    if os.path.isdir(report.target):
        return report.target.rstrip("/") or "/"
    here = os.getcwd()
    return os.path.relpath(report.tree) if (report.tree + "/").startswith(here + "/") else report.tree
