"""The operations, as a Python API; the command line is a thin layer over these.

Errors are RelinterpError subclasses (relinterp.errors), the same the CLI reports.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from .elf import Executable, read_executable
from .errors import CandidateError
from .plan import RewritePlan, check_patchable, plan_patch
from .stub import stub_for
from .write import apply_plan

PATCHED = "patched"
ALREADY_PATCHED = "already patched"


@dataclass(frozen=True)
class PatchResult:
    path: str  # the file written, or left as it was
    status: str  # PATCHED or ALREADY_PATCHED
    executable: Executable  # the input as read
    plan: RewritePlan | None  # None when nothing had to be written


def patch(
    path: str | os.PathLike[str],
    *,
    loader_rel: str | Sequence[str],
    output: str | os.PathLike[str] | None = None,
) -> PatchResult:
    """Make the executable at `path` load its loader from `loader_rel` (relative to the
    executable's directory; several are tried in order).  In place unless `output`."""
    path = os.fspath(path)
    candidates = (loader_rel,) if isinstance(loader_rel, str) else tuple(loader_rel)
    for candidate in candidates:
        if candidate.startswith("/"):
            raise CandidateError(path, f"--loader-rel {candidate}: must be relative to the program's directory")
    exe = read_executable(path)
    base = exe.patch.original if exe.patch else exe
    stub = check_patchable(base, stub_for(base.machine, base.elfclass, base.little_endian))
    target = os.path.realpath(path) if output is None else os.fspath(output)
    same = exe.patch is not None and exe.patch.config.candidates == candidates and exe.patch.stub_code == stub.code
    if same and os.path.exists(target) and os.path.samefile(path, target):
        return PatchResult(path=target, status=ALREADY_PATCHED, executable=exe, plan=None)
    plan = plan_patch(exe, stub, candidates)
    apply_plan(plan, path, target)
    return PatchResult(path=target, status=ALREADY_PATCHED if same else PATCHED, executable=exe, plan=plan)
