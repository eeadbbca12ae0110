"""The operations, as a Python API; the command line is a thin layer over these.

Errors are RelinterpError subclasses (relinterp.errors), the same the CLI reports.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from .elf import Executable, read_executable
from .errors import CandidateError, ModifiedError, NotPatchedError
from .plan import RewritePlan, plan_patch, plan_restore
from .stub import StubBlob, stub_for
from .write import apply_plan

PATCHED = "patched"
ALREADY_PATCHED = "already patched"
RESTORED = "restored"


@dataclass(frozen=True)
class PatchResult:
    path: str  # the file written, or left as it was
    status: str  # PATCHED, ALREADY_PATCHED or RESTORED
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
    stub = stub_for(exe.machine, exe.elfclass, exe.little_endian)
    target = _target(path, output)
    same = exe.patch is not None and stub is not None and exe.patch.stub_code == stub.code \
        and exe.patch.config.candidates == candidates
    if same and os.path.exists(target) and os.path.samefile(path, target):
        return PatchResult(path=target, status=ALREADY_PATCHED, executable=exe, plan=None)
    if exe.unpatched is None:
        raise ModifiedError(path, "patched, then changed (stripped?), so it cannot be patched again "
                                  "with other options: patch the original file")
    plan = plan_patch(exe, stub, candidates)
    apply_plan(plan, path, target)
    return PatchResult(path=target, status=ALREADY_PATCHED if same else PATCHED, executable=exe, plan=plan)


def restore(path: str | os.PathLike[str], *, output: str | os.PathLike[str] | None = None) -> PatchResult:
    """Give back the exact bytes the file had before `patch`.  In place unless `output`."""
    path = os.fspath(path)
    exe = read_executable(path)
    if exe.patch is None:
        raise NotPatchedError(path, "not patched by relinterp, nothing to restore")
    _check_unmodified(exe)
    plan = plan_restore(exe)
    target = _target(path, output)
    apply_plan(plan, path, target)
    return PatchResult(path=target, status=RESTORED, executable=exe, plan=plan)


def _target(path: str, output: str | os.PathLike[str] | None) -> str:
    """Where the result goes: OUT, or the file itself (through a symlink, not over it)."""
    return os.path.realpath(path) if output is None else os.fspath(output)


def _check_unmodified(exe: Executable) -> None:
    """The file must be exactly what patching its original gives (with the stub and
    candidates it records); only then is the restored file the original, byte for byte."""
    patch = exe.patch
    assert patch is not None
    if patch.original is None or not _as_patched(exe):
        raise ModifiedError(exe.path, "changed since it was patched (stripped?): "
                                      "cannot give back the original byte for byte")


def _as_patched(exe: Executable) -> bool:
    patch = exe.patch
    recorded = StubBlob(
        arch="recorded", machine=exe.machine, elfclass=exe.elfclass, little_endian=exe.little_endian,
        code=patch.stub_code, entry_offset=exe.entry - patch.segment.vaddr,
        config_offset=len(patch.stub_code), sha256="",
    )
    header, phdrs, appended = plan_patch(exe, recorded, patch.config.candidates).writes
    if (header.data, phdrs.data) != (exe.header, exe.phdrs) or appended.offset + len(appended.data) != exe.file_size:
        return False
    with open(exe.path, "rb") as stream:
        stream.seek(appended.offset)
        return stream.read(len(appended.data)) == appended.data
