"""The operations, as a Python API; the command line is a thin layer over these.

Errors are RelinterpError subclasses (relinterp.errors), the same the CLI reports.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from .candidates import LoaderCandidate, choose_candidates, config_flags
from .elf import Executable, read_executable
from .errors import ModifiedError, NotPatchedError
from .plan import RewritePlan, check_patchable, plan_patch, plan_restore
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
    candidates: tuple[LoaderCandidate, ...] = ()  # for a patch: in run-time order, with provenance


def patch(
    path: str | os.PathLike[str],
    *,
    loader_rel: str | Sequence[str] = (),
    loader: str | Sequence[str] = (),
    fallback_system: bool = False,
    output: str | os.PathLike[str] | None = None,
) -> PatchResult:
    """Make the executable at `path` find its loader at run time: `loader_rel` (relative
    to the executable's directory), then `loader` (absolute), each tried in order, then
    with `fallback_system` its original interpreter.  With neither `loader_rel` nor
    `loader`, candidates are derived from its DT_RUNPATH (relinterp.candidates).
    In place unless `output`."""
    path = os.fspath(path)
    exe = read_executable(path)
    stub = stub_for(exe.machine, exe.elfclass, exe.little_endian)
    base = exe.unpatched
    if base is not None:
        check_patchable(base, stub)  # a static program is refused as such, before its candidates
    chosen = choose_candidates(base if base is not None else exe, loader_rel=loader_rel, loader=loader,
                               fallback_system=fallback_system)
    candidates, flags = tuple(c.path for c in chosen), config_flags(chosen)
    target = _target(path, output)
    same = exe.patch is not None and stub is not None and exe.patch.stub_code == stub.code \
        and (exe.patch.config.candidates, exe.patch.config.flags) == (candidates, flags)
    if same and os.path.exists(target) and os.path.samefile(path, target):
        return PatchResult(path=target, status=ALREADY_PATCHED, executable=exe, plan=None, candidates=chosen)
    if exe.unpatched is None:
        raise ModifiedError(path, "patched, then changed (stripped?), so it cannot be patched again "
                                  "with other options: patch the original file")
    plan = plan_patch(exe, stub, candidates, flags=flags)
    apply_plan(plan, path, target)
    return PatchResult(path=target, status=ALREADY_PATCHED if same else PATCHED, executable=exe, plan=plan,
                       candidates=chosen)


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
    header, phdrs, appended = plan_patch(exe, recorded, patch.config.candidates, flags=patch.config.flags).writes
    if (header.data, phdrs.data) != (exe.header, exe.phdrs) or appended.offset + len(appended.data) != exe.file_size:
        return False
    with open(exe.path, "rb") as stream:
        stream.seek(appended.offset)
        return stream.read(len(appended.data)) == appended.data
