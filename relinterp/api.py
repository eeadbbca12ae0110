"""The operations, as a Python API; the command line is a thin layer over these.

Each takes one file and returns a frozen result (relinterp.report) with `to_json()`.
Errors are RelinterpError subclasses (relinterp.errors), the same the CLI reports.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

from . import __version__
from .loaders.candidates import check_loaders
from .rewrite.candidates import OPTION, choose_candidates, config_flags, recorded_candidates
from .elf.record import CONFIG_SCHEMA, FLAG_EMBEDDED
from .elf.executable import Executable, open_input, read_executable
from .errors import CandidateError, ModifiedError, NotPatchedError, RelinterpError, WriteError
from .loaders.family import libc_family
from .rewrite.digest import original_digest, plan_sha256
from .rewrite.patchable import check_patchable
from .rewrite.plan import plan_patch, restore_facts
from .rewrite.restore import plan_restore, plan_working_restore, restored_model
from .rewrite.changes import changes_since_patch, interop_notes, not_patched_reason, restore_differences
from .report import (ALREADY_PATCHED, PATCHED, RESTORED, RESTORED_NOT_EXACT, WOULD_PATCH, Inspection,
                     PatchInfo, PatchResult, RestoreResult, StubInfo, StubSegment)
from .rewrite.stub import StubBlob, stub_for
from .rewrite.atomic import CAPABILITY, not_a_file
from .rewrite.write import apply_plan, holds_appended, write_patch
from .rewrite.embed import embedded_image
from .loader_info import carried, carries, loader_to_embed, placed

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which costs `relinterp patch` the import of typing
if TYPE_CHECKING:
    from typing import Any

    from .report import EmbeddedLoader
    from .rewrite.candidates import LoaderCandidate
    from .rewrite.embed import LoaderImage

__all__ = ["PatchOptions", "patch", "restore", "inspect", "PatchResult", "RestoreResult", "Inspection",
           "PATCHED", "ALREADY_PATCHED", "WOULD_PATCH", "RESTORED", "RESTORED_NOT_EXACT"]


@dataclass(frozen=True)
class PatchOptions:
    """How to patch: the keyword arguments of `patch` other than the file, as one value
    that a run over many files passes to each."""

    loader_rel: tuple[str, ...] = ()
    loader: tuple[str, ...] = ()
    fallback_system: bool = False
    embed_loader: str | None = None

    def as_kwargs(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def patch(
    path: str | os.PathLike[str],
    *,
    loader_rel: str | Sequence[str] = (),
    loader: str | Sequence[str] = (),
    fallback_system: bool = False,
    embed_loader: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
) -> PatchResult:
    """Make the executable at `path` find its loader at run time: `loader_rel` (relative
    to the executable's directory), then `loader` (absolute), each tried in order, then
    with `fallback_system` its original interpreter.  With neither `loader_rel` nor
    `loader`, candidates are derived from its DT_RUNPATH (relinterp.rewrite.candidates).
    With `embed_loader`, none of these: that loader's file goes into the program's, and
    the kernel maps it with the program (relinterp.rewrite.embed).
    In place unless `output`; with `dry_run`, plan only and write nothing."""
    path = os.fspath(path)
    with open_input(path) as source:  # everything is read from this file, whatever replaces the path
        return _patch(path, source, loader_rel=loader_rel, loader=loader, fallback_system=fallback_system,
                      embed_loader=embed_loader, output=output, dry_run=dry_run)


def _patch(path: str, source, *, loader_rel, loader, fallback_system: bool, embed_loader, output,
           dry_run: bool) -> PatchResult:
    exe = read_executable(path, source)
    stub = stub_for(exe.machine, exe.elfclass, exe.little_endian)
    base = exe.unpatched
    if base is not None:
        check_patchable(base, stub)  # a static program is refused as such, before its candidates
    image, chosen = _what_finds_the_loader(base if base is not None else exe, loader_rel, loader, fallback_system,
                                           embed_loader)
    candidates, flags = tuple(c.path for c in chosen), FLAG_EMBEDDED if image else config_flags(chosen)
    target = _target(path, output)
    warnings = _check_loaders(base if base is not None else exe, chosen, target) + _capabilities(path)
    same = _patched_so(exe, stub, candidates, flags) and carries(exe, image, source)
    if same and os.path.exists(target) and os.path.samefile(path, target):
        return replace(_unchanged(exe, target, chosen, source), warnings=warnings)
    original = recorded_original(exe, source)
    if original is None:
        raise ModifiedError(path, "patched, then changed (stripped?), so it cannot be patched again with "
                                  "other options: `relinterp restore` it, or patch the original file")
    if dry_run:
        digest = original_digest(exe, source)
        plan = plan_patch(exe, stub, candidates, flags=flags, facts=restore_facts(original, digest), loader=image,
                          stream=source)
    else:
        plan = write_patch(exe, stub, candidates, flags=flags, target=target, source=source,
                           name=_name(path, output), loader=image)
    assert plan.segment is not None and original.interp is not None
    return PatchResult(
        path=path, status=WOULD_PATCH if dry_run else ALREADY_PATCHED if same else PATCHED, output=target,
        written=not dry_run, candidates=chosen, interpreter=original.interp, machine=original.machine,
        elf_type=original.elf_type, size_before=original.file_size, size_after=plan.size,
        segment=_segment(plan.segment), embedded=None if image is None else placed(original, image),
        warnings=warnings,
    )


def _what_finds_the_loader(program: Executable, loader_rel, loader, fallback_system: bool,
                           embed_loader) -> tuple[LoaderImage | None, tuple[LoaderCandidate, ...]]:
    """The loader to embed, or the candidates to look for at run time."""
    if embed_loader is None:
        return None, choose_candidates(program, loader_rel=loader_rel, loader=loader, fallback_system=fallback_system)
    if loader_rel or loader or fallback_system:
        raise CandidateError(program.path, "--embed-loader is the loader: it takes no --loader-rel, --loader or "
                                           "--fallback-system")
    return loader_to_embed(program, os.fspath(embed_loader)), ()


def _patched_so(exe: Executable, stub: StubBlob | None, candidates: tuple[str, ...], flags: int) -> bool:
    """`exe` is patched with this stub, these candidates and flags, its entry in the stub."""
    return exe.patch is not None and stub is not None and exe.patch.stub_code == stub.code \
        and (exe.patch.config.candidates, exe.patch.config.flags) == (candidates, flags) \
        and _stub_entry_offset(exe) is not None


def restore(path: str | os.PathLike[str], *, output: str | os.PathLike[str] | None = None) -> RestoreResult:
    """Give back the exact bytes the file had before `patch`.  If it changed since
    (stripped, rewritten by patchelf or by CMake's install step), give back a working
    file with its PT_INTERP instead: the result's `exact` is then False, its status
    RESTORED_NOT_EXACT and its `differences` say how it differs from the original, where
    that is known.  Exact means proven: the SHA-256 recorded at patch time matches.
    In place unless `output`."""
    path = os.fspath(path)
    with open_input(path) as source:  # everything is read from this file, whatever replaces the path
        return _restore(path, source, output)


def _restore(path: str, source, output) -> RestoreResult:
    exe = read_executable(path, source)
    if exe.patch is None:
        raise NotPatchedError(path, not_patched_reason(exe, "nothing to restore"))
    known = recorded_original(exe, source) is not None
    plan = plan_restore(exe) if known else plan_working_restore(exe)
    result = restored_model(exe, plan, source, working=not known)  # every check before the write: a refusal
    exact = known and _proven_original(exe, plan, source)              # writes nothing
    differences = () if exact else restore_differences(exe.patch.config.restore, result)
    target = _target(path, output)
    apply_plan(plan, source, target, _name(path, output))
    return RestoreResult(path=path, status=RESTORED if exact else RESTORED_NOT_EXACT, output=target,
                         exact=exact, interpreter=result.interp, size_before=exe.file_size,
                         size_after=plan.size, differences=differences)


def inspect(path: str | os.PathLike[str]) -> Inspection:
    """What relinterp sees in the ELF file at `path`: patched or not, and with what."""
    path = os.fspath(path)
    with open_input(path) as source:
        exe = read_executable(path, source)
        original = recorded_original(exe, source)
        exact = original is not None and (exe.patch is None or _proven_original(exe, plan_restore(exe), source))
        embedded = carried(exe, source)
    interp = exe.interp if exe.patch is None else _original_interp(exe, original)
    reason = _why_not_patchable(exe, original is not None)
    return Inspection(
        path=exe.path, elfclass=exe.elfclass, little_endian=exe.little_endian, machine=exe.machine,
        elf_type=exe.elf_type, pie=exe.pie, interpreter=exe.interp,
        libc=None if interp is None else libc_family(interp), patch=_patch_info(exe, exact, interp, embedded),
        patchable=reason is None, not_patchable_reason=reason,
        needed=exe.needed, runpath=exe.runpath, rpath=exe.rpath, notes=interop_notes(exe),
    )


def _proven_original(exe: Executable, plan, source) -> bool:
    """Applying `plan` to the patched file (`source`, open) gives the bytes it was
    patched from: their SHA-256 is the one recorded (older records have none: unproven)."""
    recorded = exe.patch.config.restore.sha256
    return recorded is not None and plan_sha256(plan, source) == recorded


def recorded_original(exe: Executable, source=None) -> Executable | None:
    """The executable `exe` was patched from (itself if it is not patched), or None when
    the file (`source`, open, else read again from its path) changed since it was
    patched so that its original headers no longer describe it (stripped, rewritten by
    patchelf).

    Only a file whose headers and appended bytes are exactly what patching its recorded
    original gives (with the stub, candidates and record it holds) counts.  Its other
    bytes may still have changed (CMake's install step rewrites RUNPATH strings in
    place): only the recorded SHA-256 tells (_proven_original)."""
    patch = exe.patch
    if patch is None:
        return exe
    entry_offset = _stub_entry_offset(exe)
    if patch.original is None or entry_offset is None:
        return None
    recorded = StubBlob(
        arch="recorded", machine=exe.machine, elfclass=exe.elfclass, little_endian=exe.little_endian,
        code=patch.stub_code, entry_offset=entry_offset,
        config_offset=len(patch.stub_code), sha256="",
    )
    facts = patch.config.restore if patch.config.restore.sha256 is not None else None
    try:
        loader = embedded_image(exe, source)
    except (OSError, RelinterpError):
        return None
    for stub_at_end in (False, True):  # as this version lays the file out, or as earlier ones did
        try:
            plan = plan_patch(exe, recorded, patch.config.candidates, flags=patch.config.flags, facts=facts,
                              stub_at_end=stub_at_end, loader=loader, stream=source)
        except RelinterpError:
            return None
        if (plan.writes[0].data, plan.phdrs) == (exe.header, exe.phdrs) and plan.size == exe.file_size \
                and holds_appended(exe.path if source is None else source, plan):
            return patch.original
        if loader is not None:  # laid out one way only
            break
    return None


def _stub_entry_offset(exe: Executable) -> int | None:
    """Where e_entry is in the stub's code; None if it is not there (the segment or the
    entry moved since the patch: the program would not start)."""
    assert exe.patch is not None
    offset = exe.entry - exe.patch.segment.vaddr
    return offset if 0 <= offset < len(exe.patch.stub_code) else None


def _check_loaders(program: Executable, chosen: tuple[LoaderCandidate, ...], target: str) -> tuple[str, ...]:
    """The loaders the program is patched to, as they are now, from where it is written
    (relinterp.loaders.candidates): warnings, or a refusal for the other C library's."""
    origin = os.path.dirname(os.path.realpath(target))
    return check_loaders(program.path, program.interp, program.abi,
                         ((c.path, c.provenance == OPTION and c.relative) for c in chosen), origin)


def _capabilities(path: str) -> tuple[str, ...]:
    """A warning when the file has capabilities, which the patched file does not keep."""
    try:
        os.getxattr(path, CAPABILITY)
    except OSError:
        return ()
    return ("its file capabilities are not kept (no rewritten file keeps them): set them again after "
            "patching, knowing that they put the program in secure mode, where its $ORIGIN-relative loaders "
            "are not tried",)


def _name(path: str, output: str | os.PathLike[str] | None) -> str:
    """The result as the user named it, for messages: OUT, or the input as given."""
    return path if output is None else os.fspath(output)


def _target(path: str, output: str | os.PathLike[str] | None) -> str:
    """Where the result goes: the file itself, or OUT; either through a symlink, not
    over it (so -o /dev/stdout, when that is a file, writes the file).  An OUT that is
    not a regular file (a device, a FIFO: -o /dev/null) is refused, never replaced."""
    if output is None:
        return os.path.realpath(path)
    output = os.fspath(output)
    kind = not_a_file(output)
    if kind is not None:
        raise WriteError(output, f"is a {kind}, not a regular file: -o writes a file, so nothing was written")
    return os.path.realpath(output) if os.path.islink(output) and os.path.exists(output) else output


def _segment(seg) -> StubSegment:
    return StubSegment(offset=seg.offset, vaddr=seg.vaddr, size=seg.filesz, align=seg.align)


def _unchanged(exe: Executable, target: str, chosen: tuple[LoaderCandidate, ...], source) -> PatchResult:
    """The result of patching a file that is already patched so (read from `source`, the
    file open)."""
    patch = exe.patch
    assert patch is not None
    return PatchResult(
        path=exe.path, status=ALREADY_PATCHED, output=target, written=False, candidates=chosen,
        interpreter=patch.original_interp or "", machine=exe.machine, elf_type=exe.elf_type,
        size_before=patch.config.restore.original_size, size_after=exe.file_size, segment=_segment(patch.segment),
        embedded=carried(exe, source),
    )


def _why_not_patchable(exe: Executable, exact: bool) -> str | None:
    if exe.patch is not None:
        return None if exact else "patched, then changed (stripped?): restore it before patching with other options"
    try:
        check_patchable(exe, stub_for(exe.machine, exe.elfclass, exe.little_endian))
    except RelinterpError as error:
        return error.reason
    return None


def _original_interp(exe: Executable, original: Executable | None) -> str | None:
    """The interpreter a patched file had: where its recorded headers still describe it,
    the one they give (what `restore` writes back, covered by the recorded digest), else
    the path the record keeps."""
    assert exe.patch is not None
    return original.interp if original is not None else exe.patch.original_interp


def _patch_info(exe: Executable, exact: bool, interp: str | None,
                embedded: EmbeddedLoader | None) -> PatchInfo | None:
    """What `inspect` says of the patch `exe` holds, `embedded` the loader it carries."""
    patch = exe.patch
    if patch is None:
        return None
    shipped = stub_for(exe.machine, exe.elfclass, exe.little_endian)
    return PatchInfo(
        candidates=recorded_candidates(exe),
        original_interpreter=interp,
        stub=StubInfo(sha256=hashlib.sha256(patch.stub_code).hexdigest(), size=len(patch.stub_code),
                      config_schema=CONFIG_SCHEMA,
                      relinterp=__version__ if shipped is not None and shipped.code == patch.stub_code else None),
        segment=_segment(patch.segment),
        exact_restore=exact,
        changes=changes_since_patch(patch.config.restore, exe),
        embedded=embedded,
    )
