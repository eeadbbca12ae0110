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

from ..errors import BundleError, MissingToolError, ReadError, WriteError
from ..rewrite import write
from ..rewrite.write import PATCHELF_HINT, SearchListEditor
from . import staging as stage
from .plan import ALIAS, PROGRAM, BundlePlan, TreeFile
from .tarball import archive_mtime, write_tarball


@dataclass(frozen=True)
class BundleResult:
    output: str
    files: tuple[TreeFile, ...]
    replaced: bool  # an earlier tree at `output` was replaced
    tarball: str | None
    tar_entries: int


def build_bundle(plan: BundlePlan, tarball: str | None = None) -> BundleResult:
    editor = write.search_list_editor()
    if editor is None and any(f.search_path for f in plan.files):
        needing = [f.dest for f in plan.files if f.search_path]
        raise BundleError(plan.output, [MissingToolError(needing[0], f"patchelf is needed to change the search path "
                                                                   f"of {', '.join(needing)}: {PATCHELF_HINT}")])
    staging = stage.make_staging_dir(plan.output)
    try:
        for item in plan.files:
            _put(item, staging, editor)
        entries = 0
        if tarball is not None:
            entries = _write_tarball(staging, plan.output, tarball)
        replaced = stage.commit_tree(staging, plan.output)
    except OSError as error:
        stage.discard_tree(staging)
        raise WriteError(plan.output, f"cannot write ({error.strerror})") from None
    except BaseException:
        stage.discard_tree(staging)
        raise
    return BundleResult(plan.output, plan.files, replaced, tarball, entries)


def _put(item: TreeFile, staging: str, editor: SearchListEditor | None) -> None:
    target = os.path.join(staging, item.dest)
    if item.role == ALIAS:
        stage.make_symlink(item.link, target)
        return
    try:
        write.copy_file(item.source, target, 0o755 if item.executable else 0o644)
    except OSError as error:
        raise ReadError(item.source, f"cannot copy ({error.strerror})") from None
    program = item.role == PROGRAM and item.loader_rel is not None
    if program:
        write.unpatch_file(target)  # a program relinterp patched before is bundled from its original bytes
    if item.search_path is not None:
        change = item.search_path
        editor.set_search_list(target, change.value, change.tag, about=item.source)
    if program:
        write.repatch_file(target, (item.loader_rel,))


def _write_tarball(staging: str, output: str, tarball: str) -> int:
    top = os.path.basename(os.path.normpath(output))
    count = []
    stage.write_new_file(tarball, lambda stream: count.append(write_tarball(stream, staging, top, archive_mtime())))
    return count[0]
