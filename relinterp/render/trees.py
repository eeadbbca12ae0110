"""What bundle and verify print: the tree bundle made, line by line; each verified tree
as text, or all of them as one versioned JSON object (verify --json)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..bundle.plan import ALIAS, LIBRARY, LOADER_FILE, PROGRAM

if TYPE_CHECKING:
    from ..bundle.assemble import BundleResult
    from ..verify.check import Finding, ProgramReport, TreeReport

VERIFY_SCHEMA = 1  # of verify --json


def bundle_lines(result: BundleResult) -> list[str]:
    """What `relinterp bundle` prints: one line per file of the tree, then the totals."""
    lines = []
    for item in result.files:
        where = f"{result.output}/{item.dest}"
        if item.role == ALIAS:
            lines.append(f"{where} -> {item.link}")
            continue
        notes = []
        if item.search_path is not None:
            change = item.search_path
            notes.append(f"{change.tag.removeprefix('DT_')} {change.value}" if change.value else "RPATH/RUNPATH removed")
        if item.role == PROGRAM and item.loader_rel:
            notes.append(f"patched, loader $ORIGIN/{item.loader_rel}")
        if item.role == LOADER_FILE:
            notes.append("loader")
        lines.append(f"{where} <- {item.source}" + (f" ({'; '.join(notes)})" if notes else ""))
    programs, libraries, loaders = (sum(f.role == role for f in result.files)
                                    for role in (PROGRAM, LIBRARY, LOADER_FILE))
    state = "replaced the earlier tree" if result.replaced else "new tree"
    loader = " and the loader" if loaders else ""
    lines.append(f"{result.output}: {_count(programs, 'program', 'programs')}, "
                 f"{_count(libraries, 'library', 'libraries')}{loader} ({state})")
    if result.tarball:
        lines.append(f"{result.tarball}: {result.tar_entries} entries")
    return lines


def verify_lines(report: TreeReport) -> list[str]:
    """What `relinterp verify` prints of one tree: one line per program and per failed
    check, prefixed by the tree (relative to the working directory when it lies there);
    the program's output indented with "|"."""
    lines = []
    here = os.getcwd()
    tree = os.path.relpath(report.tree) if (report.tree + "/").startswith(here + "/") else report.tree
    for program in report.programs:
        libs = _count(len(program.libraries), "library", "libraries")
        lines.append(f"{tree}: {program.path}: loader {program.loader or '-'}, {libs} inside the tree")
        if program.run is not None:
            status = "timed out" if program.run.status is None else f"exit status {program.run.status}"
            lines.append(f"{tree}: {program.path}: ran {' '.join(program.run.argv)} in an empty root: {status}")
            for line in (program.run.stdout + program.run.stderr).splitlines():
                lines.append(f"  | {line}")
    for note in report.notes:
        lines.append(f"{tree}: NOTE {note.path}: {note.check}: {note.message}")
    for finding in [f for p in report.programs for f in p.findings] + report.findings:
        lines.append(f"{tree}: FAIL {finding.path}: {finding.check}: {finding.message}")
    problems = sum(len(p.findings) for p in report.programs) + len(report.findings)
    lines.append(f"{report.target}: " + ("ok" if report.ok else f"FAILED ({_count(problems, 'problem', 'problems')})"))
    return lines


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def verify_json(reports: list[TreeReport]) -> dict:
    """The versioned object `relinterp verify --json` prints."""
    return {
        "schema": VERIFY_SCHEMA,
        "ok": all(r.ok for r in reports),
        "trees": [{
            "target": r.target, "tree": r.tree, "ok": r.ok,
            "findings": [_finding_json(f) for f in r.findings],
            "notes": [_finding_json(f) for f in r.notes],
            "programs": [_program_json(p) for p in r.programs],
        } for r in reports],
    }


def _finding_json(finding: Finding) -> dict:
    return {"path": finding.path, "check": finding.check, "message": finding.message}


def _program_json(program: ProgramReport) -> dict:
    run = program.run
    return {
        "path": program.path, "ok": program.ok, "loader": program.loader, "libraries": program.libraries,
        "findings": [_finding_json(f) for f in program.findings],
        "run": None if run is None else {"argv": list(run.argv), "status": run.status, "stdout": run.stdout,
                                         "stderr": run.stderr, "sandbox": run.sandbox},
    }
