"""Build the release tree a BundlePlan describes, then put it in place in one step.

Everything is built in a staging directory beside the output (so the final rename stays
on one file system): files copied, search lists set where the plan says, programs
patched, every byte through relinterp.rewrite.write.  Only a complete tree replaces the
output (and the tarball, when asked, is written from it before that); on any failure
the staging directory is removed and the output is as it was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import BundleError, MissingToolError, ReadError, RelinterpError, WriteError
from ..rewrite import write
from ..rewrite.write import PATCHELF_HINT, SearchListEditor
from ..sbom import SBOM_NAME
from . import staging as stage
from .plan import BundlePlan
from .record import RECORD, record_bytes
from .treefile import ALIAS, DATA, DIRECTORY, PROGRAM, TreeFile
from .progress import SILENT, Progress
from .tarball import Compression, archive_mtime, write_tarball

if TYPE_CHECKING:
    from .provenance import OriginQuery, SbomSummary


@dataclass(frozen=True)
class Archive:
    """The archive of the tree that `bundle --tar` writes."""

    path: str
    compression: Compression


@dataclass(frozen=True)
class BundleResult:
    output: str
    files: tuple[TreeFile, ...]
    replaced: bool  # an earlier tree at `output` was (or, dry run, would be) replaced
    archive: Archive | None
    tar_entries: int | None  # None: not written (dry run)
    dry_run: bool = False
    sbom: SbomSummary | None = None  # None: --no-sbom
    stage: str | None = None  # the install prefix the tree mirrors; None: programs given one by one
    from_target: tuple = ()  # paths a traced run used that the tree does not hold (bundle.traced.TargetFile)

    @classmethod
    def of(cls, plan: BundlePlan, replaced: bool, archive: Archive | None, entries: int | None, dry_run: bool,
           sbom: SbomSummary | None) -> BundleResult:
        return cls(plan.output, plan.files, replaced, archive, entries, dry_run=dry_run, sbom=sbom, stage=plan.stage,
                   from_target=plan.from_target)


@dataclass(frozen=True)
class SbomRequest:
    """bundle's SBOM: written into the tree unless --no-sbom; `copy` is --sbom FILE."""

    write: bool = True
    copy: str | None = None
    query: OriginQuery | None = None  # the package database, asked while planning (else while copying)


def plan_result(plan: BundlePlan, archive: Archive | None = None, sbom: SbomRequest = SbomRequest()) -> BundleResult:
    """What build_bundle would do, for --dry-run: nothing is written."""
    summary = None
    if sbom.write:
        from .provenance import SbomSummary  # only where an SBOM is written: its modules cost --no-sbom nothing

        summary = SbomSummary(SBOM_NAME, sbom.copy)
    return BundleResult.of(plan, os.path.isdir(plan.output), archive, None, True, summary)


def build_bundle(plan: BundlePlan, archive: Archive | None = None, progress: Progress = SILENT,
                 sbom: SbomRequest = SbomRequest()) -> BundleResult:
    editor = write.search_list_editor()
    if editor is None and any(f.search_path for f in plan.files):
        needing = [f.dest for f in plan.files if f.search_path]
        raise BundleError(plan.output, [MissingToolError(needing[0], f"patchelf is needed to change the search path "
                                                                   f"of {', '.join(needing)}: {PATCHELF_HINT}")])
    archived = stage.output_file(archive.path) if archive is not None else None  # refused before anything
    sbom_file = stage.output_file(sbom.copy, "the SBOM") if sbom.write and sbom.copy else None
    staging = stage.make_staging_dir(plan.output)
    pending = None
    try:
        if sbom.write:
            from .provenance import PendingSbom  # only here: --no-sbom costs nothing

            pending = PendingSbom(plan, staging, sbom.query)  # at work while the tree is copied
        sizes = [os.path.getsize(f.source) if f.copied else 0 for f in plan.files]
        progress.start("copying", sum(sizes))
        for item, size in zip(plan.files, sizes):
            _put(item, staging, editor, plan.output)
            if pending is not None and item.copied:
                pending.copied(item.dest)
            progress.advance(size)
        progress.finish()
        _finish_tree(plan.files, staging, [SBOM_NAME] if sbom.write else [])
        summary = pending.write(sbom.copy, sbom_file) if pending else None
        entries = None
        if archive is not None:
            entries = _write_tarball(staging, plan.output, archive, archived, progress)
        replaced = stage.commit_tree(staging, plan.output)
    except OSError as error:
        stage.discard_tree(staging)
        raise WriteError(plan.output, f"cannot write ({error.strerror})") from None
    except BaseException:
        stage.discard_tree(staging)
        raise
    finally:
        if pending is not None:
            pending.close()
    return BundleResult.of(plan, replaced, archive, entries, False, summary)


def _put(item: TreeFile, staging: str, editor: SearchListEditor | None, output: str) -> None:
    target = os.path.join(staging, item.dest)
    if item.role == ALIAS:
        stage.make_symlink(item.link, target)
        return
    if item.role == DIRECTORY:
        os.makedirs(target, exist_ok=True)
        return
    program = item.role == PROGRAM and (item.loader_rel is not None or item.embed_loader is not None)
    edited = program or item.search_path is not None
    try:
        write.copy_file(item.source, target, 0o600 if edited else item.file_mode)  # edited: its mode once done
        if item.role == DATA:  # its time too, as cp -p: python checks its cached bytecode against the source's
            info = os.stat(item.source)
            os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
    except OSError as error:
        raise ReadError(item.source, f"cannot copy ({error.strerror})") from None
    if not edited:
        return
    try:
        _edit(item, target, editor, program)
    except RelinterpError as error:  # about the staged copy: name the file the user knows instead
        if error.path != target:
            raise
        raise error.about(os.path.join(output, item.dest) if isinstance(error, WriteError) else item.source) \
            from None
    os.chmod(target, item.file_mode)


def _edit(item: TreeFile, target: str, editor: SearchListEditor | None, program: bool) -> None:
    """Set the search list and patch the staged copy `target` of `item`, as the plan says."""
    if program:
        write.unpatch_file(target)  # a program relinterp patched before is bundled from its original bytes
    if item.search_path is not None:
        change = item.search_path
        editor.set_search_list(target, change.value, change.tag, about=item.source)
    if program:
        write.repatch_file(target, () if item.loader_rel is None else (item.loader_rel,),
                           embed_loader=item.embed_loader)


def _finish_tree(files: tuple[TreeFile, ...], staging: str, more: list[str]) -> None:
    """The record of what the tree holds (its files, and `more` that bundle writes into
    it), then the directories' modes (deepest first: a directory without write permission
    is complete before it gets its mode)."""
    with open(os.path.join(staging, RECORD), "wb") as record:
        record.write(record_bytes([f.dest for f in files] + more))
    for item in sorted((f for f in files if f.role == DIRECTORY and f.mode is not None),
                       key=lambda f: f.dest.count("/"), reverse=True):
        os.chmod(os.path.join(staging, item.dest), item.mode)


def _write_tarball(staging: str, output: str, archive: Archive, file: str | None, progress: Progress) -> int:
    """Into `file`, atomically; or, None, through to archive.path as it is (stdout, a FIFO)."""
    top = os.path.basename(os.path.abspath(output))
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(staging) for f in files
               if not os.path.islink(os.path.join(d, f)))
    progress.start(f"archiving ({archive.compression})", size)
    count = []

    def produce(stream) -> None:
        count.append(write_tarball(stream, staging, top, archive_mtime(), archive.compression, progress.advance))

    stage.write_output(archive.path, file, produce)
    progress.finish()
    return count[0]
