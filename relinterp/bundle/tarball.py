"""A reproducible .tar.gz of a directory tree: the same tree gives the same bytes.

Entries are sorted by path; every entry has the same mtime (SOURCE_DATE_EPOCH when set,
else 0), owner 0:0 with no owner names, and a mode that depends only on whether the file
is executable; the gzip header carries no file name and mtime 0.  Symbolic links are
stored as links.
"""

from __future__ import annotations

import gzip
import os
import stat
import tarfile
from typing import BinaryIO

COMPRESS_LEVEL = 9


def archive_mtime() -> int:
    """SOURCE_DATE_EPOCH (reproducible-builds.org) when it is a valid time, else 0."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "")
    return int(value) if value.isdigit() else 0


def write_tarball(stream: BinaryIO, tree: str, top: str, mtime: int) -> int:
    """Write `tree` into `stream` as a gzip'd tar whose entries live under `top/`;
    return the number of entries."""
    paths = sorted(_walk(tree))
    with gzip.GzipFile(filename="", mode="wb", fileobj=stream, mtime=0, compresslevel=COMPRESS_LEVEL) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_entry(top, os.lstat(tree), mtime))
            for relative in paths:
                full = os.path.join(tree, relative)
                info = _entry(f"{top}/{relative}", os.lstat(full), mtime)
                if info.isreg():
                    with open(full, "rb") as data:
                        tar.addfile(info, data)
                else:
                    if info.issym():
                        info.linkname = os.readlink(full)
                    tar.addfile(info)
    return len(paths) + 1


def _walk(tree: str):
    for directory, dirs, files in os.walk(tree):
        for name in dirs + files:
            yield os.path.relpath(os.path.join(directory, name), tree)


def _entry(name: str, info: os.stat_result, mtime: int) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.mtime = mtime
    entry.uid = entry.gid = 0
    entry.uname = entry.gname = ""
    if stat.S_ISDIR(info.st_mode):
        entry.type, entry.mode = tarfile.DIRTYPE, 0o755
    elif stat.S_ISLNK(info.st_mode):
        entry.type, entry.mode = tarfile.SYMTYPE, 0o777
    elif stat.S_ISREG(info.st_mode):
        entry.type, entry.size = tarfile.REGTYPE, info.st_size
        entry.mode = 0o755 if info.st_mode & 0o111 else 0o644
    else:
        raise ValueError(f"{name}: not a file, directory or symbolic link")
    return entry
