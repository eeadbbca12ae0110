"""A reproducible archive of a directory tree: the same tree gives the same bytes.

Entries are sorted by path; every entry has the same mtime (SOURCE_DATE_EPOCH when set,
else 0), owner 0:0 with no owner names, and a mode that depends only on whether the file
is executable.  Symbolic links are stored as links.  Compressed with gzip (no file name,
mtime 0 in its header), xz, zstd (the `zstd` command: Python has no zstd module before
3.14) or not at all.
"""

from __future__ import annotations

import contextlib
import gzip
import lzma
import os
import shutil
import stat
import subprocess
import tarfile
from dataclasses import dataclass
from typing import BinaryIO, Callable

# zlib's own default: as fast as `tar -czf`; level 9 took 2.6 times as long for 0.4% less
# (bench/RESULTS-archive.md).
LEVELS = {"gzip": (6, 1, 9), "xz": (6, 0, 9), "zstd": (3, 1, 19), "none": (None, None, None)}
SUFFIXES = {".tar.gz": "gzip", ".tgz": "gzip", ".tar.xz": "xz", ".txz": "xz", ".tar.zst": "zstd",
            ".tar": "none"}
CHUNK = 1 << 20


class CompressionError(ValueError):
    """A --compress value that cannot be used here; the message says why."""


@dataclass(frozen=True)
class Compression:
    method: str  # gzip, xz, zstd or none
    level: int | None

    def __str__(self) -> str:
        return self.method if self.level is None else f"{self.method}:{self.level}"


def parse_compression(text: str) -> Compression:
    """'gzip', 'gzip:9', 'xz', 'xz:0', 'zstd:19', 'none'."""
    method, _, level = text.partition(":")
    if method not in LEVELS:
        raise CompressionError(f"{text!r}: not one of {', '.join(LEVELS)} (with :LEVEL for the first three)")
    default, lowest, highest = LEVELS[method]
    if not level:
        chosen = default
    elif default is None or not level.isdigit() or not lowest <= int(level) <= highest:
        raise CompressionError(f"{text!r}: {method} takes no level" if default is None else
                               f"{text!r}: the {method} level is {lowest} to {highest}")
    else:
        chosen = int(level)
    if method == "zstd" and shutil.which("zstd") is None:
        raise CompressionError(f"{text!r}: needs the zstd command (apt-get install zstd); "
                               "or use gzip or xz")
    return Compression(method, chosen)


def compression_for(archive: str) -> Compression | None:
    """The compression an archive's name asks for (.tar.gz, .tar.xz, .tar.zst, .tar)."""
    for suffix, method in SUFFIXES.items():
        if archive.endswith(suffix):
            return parse_compression(method)
    return None


def archive_mtime() -> int:
    """SOURCE_DATE_EPOCH (reproducible-builds.org) when it is a valid time, else 0."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "")
    return int(value) if value.isdigit() else 0


def write_tarball(stream: BinaryIO, tree: str, top: str, mtime: int, compression: Compression,
                  progress: Callable[[int], None] = lambda n: None) -> int:
    """Write `tree` into `stream` as a tar whose entries live under `top/`; call
    progress(bytes) as file contents go in; return the number of entries."""
    paths = sorted(_walk(tree))
    # Stream mode ("w|"): the zstd command's pipe cannot seek.
    with _compressed(stream, compression) as out, \
            tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, copybufsize=CHUNK) as tar:
        tar.addfile(_entry(top, os.lstat(tree), mtime))
        for relative in paths:
            full = os.path.join(tree, relative)
            info = _entry(f"{top}/{relative}", os.lstat(full), mtime)
            if info.isreg():
                with open(full, "rb") as data:
                    tar.addfile(info, _Counted(data, progress))
            else:
                if info.issym():
                    info.linkname = os.readlink(full)
                tar.addfile(info)
    return len(paths) + 1


class _Counted:
    """A file's reader that reports how much has been read."""

    def __init__(self, data: BinaryIO, progress: Callable[[int], None]):
        self.data, self.progress = data, progress

    def read(self, size: int = -1) -> bytes:
        chunk = self.data.read(size)
        self.progress(len(chunk))
        return chunk


@contextlib.contextmanager
def _compressed(stream: BinaryIO, compression: Compression):
    if compression.method == "gzip":
        with gzip.GzipFile(filename="", mode="wb", fileobj=stream, mtime=0,
                           compresslevel=compression.level) as out:
            yield out
    elif compression.method == "xz":
        with lzma.LZMAFile(stream, "wb", preset=compression.level) as out:
            yield out
    elif compression.method == "zstd":
        with _zstd(stream, compression.level) as out:
            yield out
    else:
        yield stream


@contextlib.contextmanager
def _zstd(stream: BinaryIO, level: int):
    stream.flush()
    command = ["zstd", "-q", f"-{level}", "--no-progress", "-c"]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=stream.fileno(), stderr=subprocess.PIPE)
    try:
        yield process.stdin
    finally:
        process.stdin.close()
        errors = process.stderr.read().decode(errors="replace").strip()
        if process.wait() != 0:
            raise OSError(0, f"zstd failed (exit status {process.returncode}): {errors}")


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
