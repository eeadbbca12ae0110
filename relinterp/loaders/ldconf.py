"""glibc's /etc/ld.so.conf in a sysroot: the directories its cache is made from.

On its own machine glibc's loader looks names up in /etc/ld.so.cache, which ldconfig
builds from the directories ld.so.conf names (then from the loader's system
directories).  relinterp reads this machine's cache through `ldconfig -p`
(relinterp.loaders.ldcache), but a sysroot's cache cannot be read so: it is
another machine's (s390x's is big-endian), it is often missing (Debian's cross sysroots
have no etc/ at all), and where present it may be stale.  So for a sysroot the cache is
what ldconfig would make of the sysroot's ld.so.conf: its directories, in order, the
first that has the name winning.

The format, as ldconfig reads it: one directory per line; `#` starts a comment; `include
PATTERN...` reads the files each glob matches, in sorted order (a relative pattern is
relative to the including file's directory); `hwcap` lines are ignored; a directory may
end in `=TYPE` (libc5's), which is dropped.  Every path is the target's.
"""

from __future__ import annotations

import glob
import os

from ..elf.regular import open_regular
from .sysroot import Sysroot

MAX_INCLUDES = 32  # include depth: a file including itself stops here


def conf_dirs(sysroot: Sysroot, conf: str) -> tuple[str, ...]:
    """The directories (paths on this machine) the target's ld.so.conf `conf` names."""
    found: list[str] = []
    _read(sysroot, conf, found, 0)
    return tuple(dict.fromkeys(found))


def _read(sysroot: Sysroot, conf: str, found: list[str], depth: int) -> None:
    if depth > MAX_INCLUDES:
        return
    try:
        with open_regular(sysroot.locate(conf)) as stream:
            text = stream.read().decode("utf-8", errors="surrogateescape")
    except OSError:
        return  # no such file: ldconfig goes on without it
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0].lower() == "hwcap":
            continue
        if words[0] == "include" and len(words) > 1:
            for pattern in words[1:]:
                for path in _matches(sysroot, pattern, os.path.dirname(conf)):
                    _read(sysroot, path, found, depth + 1)
        else:
            directory = " ".join(words).split("=", 1)[0].rstrip("/") or "/"
            if directory.startswith("/"):
                found.append(sysroot.locate(directory))


def _matches(sysroot: Sysroot, pattern: str, here: str) -> list[str]:
    """The target's paths a glob of an include line matches, sorted as glob(3) sorts."""
    target = pattern if pattern.startswith("/") else os.path.join(here, pattern)
    directory, name = os.path.split(target)
    located = sysroot.locate(directory)
    return sorted(os.path.join(directory, os.path.basename(m))
                  for m in glob.glob(os.path.join(glob.escape(located), name)))
