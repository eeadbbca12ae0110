"""What bundle and verify print: the tree bundle made (or, with --dry-run, would make),
each verified tree as text, and each command's versioned JSON document (schemas in
relinterp/schema/: bundle.schema.json, verify.schema.json), with the envelope every
command's document has (relinterp, schema, command, exit_code)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..bundle.treefile import ALIAS, DATA, DIRECTORY, LIBRARY, LOADER_FILE, PROGRAM

if TYPE_CHECKING:
    from ..bundle.assemble import BundleResult
    from ..bundle.traced import TargetFile
    from ..bundle.treefile import TreeFile
    from ..errors import RelinterpError
    from ..verify.check import ProgramReport, TreeReport
    from ..verify.findings import Finding

# Bumped when a field changes meaning or disappears; new fields keep the number.
BUNDLE_SCHEMA = 1
VERIFY_SCHEMA = 1


# ---------------------------------------------------------------- bundle

def bundle_lines(result: BundleResult, verbose: bool) -> list[str]:
    """What `relinterp bundle` prints: every file with -v or --dry-run, the SBOM, then the
    tree and the archive."""
    shown = [f for f in result.files if f.role != DIRECTORY] if verbose or result.dry_run else []
    lines = [_tree_file(result.output, item) for item in shown]
    programs, libraries, loaders, data = (sum(f.role == role for f in result.files)
                                          for role in (PROGRAM, LIBRARY, LOADER_FILE, DATA))
    if result.dry_run:
        state = ("would replace the earlier tree" if result.replaced else "would be a new tree") + \
            "; nothing written (--dry-run)"
    else:
        state = "replaced the earlier tree" if result.replaced else "new tree"
    loader = " and the loader" if loaders else ""
    if result.sbom is not None:
        lines += _sbom_lines(result)
    other = f", {_count(data, 'other file', 'other files')}" if result.stage is not None or data else ""
    mirrors = f"mirrors {result.stage}: " if result.stage is not None else ""
    lines.append(f"{result.output}: {mirrors}{_count(programs, 'program', 'programs')}, "
                 f"{_count(libraries, 'library', 'libraries')}{other}{loader} ({state})")
    lines += [_target_file(result.output, item) for item in result.from_target if item.found or verbose]
    if result.archive is not None:
        written = "would be written" if result.tar_entries is None else f"{result.tar_entries} entries"
        lines.append(f"{result.archive.path}: {written} ({result.archive.compression})")
    return lines


def _target_file(output: str, item: TargetFile) -> str:
    """A path a traced run used that the tree does not hold: the target's is used."""
    how = "written" if item.writing else item.how
    absent = "" if item.found else ", absent here too"
    return f"{output}: from the target: {item.path} ({how} by {item.by}{absent})"


def _sbom_lines(result: BundleResult) -> list[str]:
    sbom = result.sbom
    where = os.path.join(result.output, sbom.path)
    if sbom.files is None:
        lines = [f"{where}: SBOM would be written (CycloneDX 1.6)"]
    else:
        lines = [f"{where}: SBOM (CycloneDX 1.6) of {_count(sbom.files, 'file', 'files')}, "
                 f"{sbom.packaged} from distribution packages (package database: {sbom.database})"]
    if sbom.copy is not None:
        lines.append(f"{sbom.copy}: a copy of it" + (" (would be written)" if sbom.files is None else ""))
    return lines


def _tree_file(output: str, item: TreeFile) -> str:
    where = f"{output}/{item.dest}"
    if item.role == ALIAS:
        return f"{where} -> {item.link}"
    notes = []
    if item.search_path is not None:
        change = item.search_path
        notes.append(f"{change.tag.removeprefix('DT_')} {change.value}" if change.value else "RPATH/RUNPATH removed")
    if item.role == PROGRAM and item.loader_rel:
        notes.append(f"patched, loader $ORIGIN/{item.loader_rel}")
    if item.role == PROGRAM and item.embed_loader:
        notes.append(f"patched, loader {item.embed_loader} embedded")
    if item.role == LOADER_FILE:
        notes.append("loader")
    return f"{where} <- {item.source}" + (f" ({'; '.join(notes)})" if notes else "")


def bundle_document(result: BundleResult, exit_code: int) -> dict[str, Any]:
    """`bundle --json`: the tree made (or, with --dry-run, planned), file by file."""
    archive = result.archive
    return {
        "relinterp": __version__, "schema": BUNDLE_SCHEMA, "command": "bundle", "dry_run": result.dry_run,
        "output": result.output, "stage": result.stage, "replaced": result.replaced,
        "files": [_tree_file_json(f) for f in result.files],
        "from_target": [{"path": t.path, "how": t.how, "found": t.found, "writing": t.writing, "by": t.by}
                        for t in result.from_target],
        "archive": None if archive is None else {"path": archive.path, "compression": str(archive.compression),
                                                 "entries": result.tar_entries},
        "sbom": _sbom_json(result),
        "errors": [], "exit_code": exit_code,
    }


def _sbom_json(result: BundleResult) -> dict[str, Any] | None:
    sbom = result.sbom
    if sbom is None:
        return None
    return {"path": os.path.join(result.output, sbom.path), "copy": sbom.copy, "files": sbom.files,
            "packaged": sbom.packaged, "database": sbom.database}


def _tree_file_json(item: TreeFile) -> dict[str, Any]:
    change = item.search_path
    return {"path": item.dest, "role": item.role, "source": item.source, "link": item.link,
            "search_path": None if change is None else {"tag": change.tag, "value": change.value},
            "loader": item.loader_rel, "embedded_loader": item.embed_loader, "found_by": item.found_by}


# ---------------------------------------------------------------- verify

def verify_lines(report: TreeReport, quiet: bool = False) -> list[str]:
    """What `relinterp verify` prints of one tree: one line per program and per failed
    check, prefixed by the tree as the user named it; the program's output indented
    with "|".  `quiet`: the failed checks and the verdict only, nothing for a tree that
    passed."""
    tree = _tree_as_given(report)
    failed = [f for p in report.programs for f in p.findings] + report.findings
    if quiet:
        return [] if report.ok else [f"{tree}: FAIL {f.path}: {f.check}: {f.message}" for f in failed] + \
            [f"{report.target}: FAILED ({_count(len(failed), 'problem', 'problems')})"]
    lines = []
    for program in report.programs:
        libs = _count(len(program.libraries), "library", "libraries")
        lines.append(f"{tree}: {program.path}: loader {program.loader or '-'}, {libs} inside the tree")
        if program.run is not None:
            status = "timed out" if program.run.status is None else f"exit status {program.run.status}"
            lines.append(f"{tree}: {program.path}: ran {' '.join(program.run.argv)} in an empty root: {status}")
            lines += [f"  | {line}" for line in (program.run.stdout + program.run.stderr).splitlines()]
    lines += [f"{tree}: NOTE {note.path}: {note.check}: {note.message}" for note in report.notes]
    lines += [f"{tree}: FAIL {finding.path}: {finding.check}: {finding.message}" for finding in failed]
    lines.append(f"{report.target}: " + ("ok" if report.ok else f"FAILED ({_count(len(failed), 'problem', 'problems')})"))
    return lines


def _tree_as_given(report: TreeReport) -> str:
    """The tree as the user named it: the target itself when it is the tree, else the
    tree relative to the working directory when it lies there."""
    if os.path.isdir(report.target):
        return report.target.rstrip("/") or "/"
    here = os.getcwd()
    return os.path.relpath(report.tree) if (report.tree + "/").startswith(here + "/") else report.tree


def verify_document(reports: list[TreeReport], exit_code: int) -> dict[str, Any]:
    """`verify --json`: each tree's (or program's) checks, notes and runs."""
    return {
        "relinterp": __version__, "schema": VERIFY_SCHEMA, "command": "verify",
        "ok": all(r.ok for r in reports),
        "trees": [{
            "target": r.target, "tree": r.tree, "ok": r.ok,
            "findings": [_finding_json(f) for f in r.findings],
            "notes": [_finding_json(f) for f in r.notes],
            "programs": [_program_json(p) for p in r.programs],
        } for r in reports],
        "errors": [], "exit_code": exit_code,
    }


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {"path": finding.path, "check": finding.check, "message": finding.message}


def _program_json(program: ProgramReport) -> dict[str, Any]:
    run = program.run
    return {
        "path": program.path, "ok": program.ok, "loader": program.loader, "libraries": program.libraries,
        "findings": [_finding_json(f) for f in program.findings],
        "run": None if run is None else {"argv": list(run.argv), "status": run.status, "stdout": run.stdout,
                                         "stderr": run.stderr, "stdout_omitted": run.stdout_omitted,
                                         "stderr_omitted": run.stderr_omitted, "sandbox": run.sandbox},
    }


# ---------------------------------------------------------------- both

def refusal_document(command: str, error: RelinterpError) -> dict[str, Any]:
    """The --json document of a command that refused before doing anything: every problem
    it found, each as it is printed on stderr."""
    problems = getattr(error, "problems", None) or (error,)
    return {"relinterp": __version__, "schema": BUNDLE_SCHEMA if command == "bundle" else VERIFY_SCHEMA,
            "command": command, "errors": [_error_json(p) for p in problems], "exit_code": error.exit_code}


def _error_json(error: RelinterpError) -> dict[str, Any]:
    return {"path": error.path, "kind": error.kind, "message": str(error), "exit_code": error.exit_code}


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"
