"""What an install prefix (STAGE) holds, entry by entry, as its mirror in a release tree
will: every directory, file and symbolic link with its path relative to STAGE and its
permission bits.  Nothing is read but directories and link texts; what a file is (a
program, a shared object, data) is for the planner to find out.

A symbolic link that stays inside STAGE is kept as a relative link (an absolute one
naming a place inside STAGE is made relative, as it would otherwise name the build
machine's directory).  One that leaves STAGE would name a file of whatever machine the
tree lands on: it is refused by name, or with `copy_outside_links` replaced by a copy
of the file it names.  Devices, FIFOs and sockets are refused: a tree holds files.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from ..errors import RelinterpError, StageError
from ..rewrite.atomic import STAGING_SUFFIX
from .record import RECORD

FILE, LINK, DIRECTORY = "file", "link", "directory"


@dataclass(frozen=True)
class StageEntry:
    dest: str  # the path relative to STAGE, which is its path in the tree
    kind: str  # FILE, LINK or DIRECTORY
    source: str  # the path it is read from: in STAGE, or the file an outside link names
    mode: int | None  # permission bits (setuid, setgid and sticky included); None: by its role
    link: str | None = None  # LINK: the relative link text it gets


def walk_stage(stage: str, copy_outside_links: bool, problems: list[RelinterpError]) -> list[StageEntry]:
    """Every entry under `stage`, sorted by path; a problem for each one that cannot be
    mirrored.  A record of an earlier bundle at the top is left out: the tree gets its own."""
    root = os.path.abspath(stage)
    entries: list[StageEntry] = []
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        try:
            scanned = sorted(os.scandir(os.path.join(stage, rel_dir)), key=lambda e: e.name)
        except OSError as error:
            problems.append(StageError(os.path.join(stage, rel_dir), f"cannot read ({error.strerror})"))
            continue
        for item in scanned:
            rel = os.path.join(rel_dir, item.name)
            if rel == RECORD or item.name.endswith(STAGING_SUFFIX):
                continue
            entry = _entry(root, rel, item, copy_outside_links, problems)
            if entry is not None:
                entries.append(entry)
                if entry.kind == DIRECTORY:
                    pending.append(rel)
    return sorted(entries, key=lambda e: e.dest)


def _entry(root: str, rel: str, item: os.DirEntry, copy_outside_links: bool,
           problems: list[RelinterpError]) -> StageEntry | None:
    try:
        info = item.stat(follow_symlinks=False)
    except OSError as error:
        problems.append(StageError(item.path, f"cannot read ({error.strerror})"))
        return None
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISDIR(info.st_mode):
        return StageEntry(rel, DIRECTORY, item.path, mode)
    if stat.S_ISREG(info.st_mode):
        return StageEntry(rel, FILE, item.path, mode)
    if stat.S_ISLNK(info.st_mode):
        return _link(root, rel, item.path, copy_outside_links, problems)
    problems.append(StageError(item.path, f"a {_kind(info.st_mode)}: a tree holds files, directories and "
                                          "symbolic links only"))
    return None


def _link(root: str, rel: str, path: str, copy_outside_links: bool,
          problems: list[RelinterpError]) -> StageEntry | None:
    text = os.readlink(path)
    inside = _inside_text(root, rel, text)
    if inside is not None:
        return StageEntry(rel, LINK, path, 0o777, link=inside)
    if not copy_outside_links:
        problems.append(StageError(path, f"a symbolic link to {text}, outside the tree: it would name a file of "
                                         "the machine the tree lands on (--copy-outside-links copies the file)"))
        return None
    target = os.path.realpath(path)
    if not os.path.isfile(target):
        what = "a directory" if os.path.isdir(target) else "nothing that exists"
        problems.append(StageError(path, f"a symbolic link to {text}, outside the tree, names {what}: "
                                         "--copy-outside-links copies files only"))
        return None
    return StageEntry(rel, FILE, target, stat.S_IMODE(os.stat(target).st_mode))


def _inside_text(root: str, rel: str, text: str) -> str | None:
    """The relative link text that names, from `rel`, what `text` names, when that lies
    inside the tree (by the link's own text: a link through another link is judged
    where that one is walked); None when it leaves it."""
    here = os.path.dirname(rel)
    if os.path.isabs(text):
        real_root = os.path.realpath(root)
        for base in (root, real_root):
            if text == base or text.startswith(base.rstrip("/") + "/"):
                return os.path.relpath(os.path.relpath(text, base), here or ".")
        return None
    target = os.path.normpath(os.path.join(here, text))
    return None if target == ".." or target.startswith("../") else text


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device" if stat.S_ISBLK(mode) or stat.S_ISCHR(mode) else "special file"
