"""glibc's system directories, read from its loader's file without running it.

glibc's build writes them into ld.so as one string, each directory ending in '/' and
followed by a NUL (elf/gen-trusted-dirs.awk: SYSTEM_DIRS), e.g.
"/lib/aarch64-linux-gnu/\\0/usr/lib/aarch64-linux-gnu/\\0/lib/\\0/usr/lib/\\0", kept as a
char array and so ended by one more NUL.  A loader for another machine cannot be asked
(`--list-diagnostics` runs it), so this finds the longest such run among its bytes;
tests/integration/test_sysroot.py checks the result against what every loader of the
test machines says when run.
"""

from __future__ import annotations

import functools
import re

from ..elf.regular import open_regular

# NUL, then directories "/.../" each ended by NUL, then the array's own NUL.
RUN = re.compile(rb"(?<=\0)((?:/[^\0/][^\0]*/\0)+)\0")


@functools.lru_cache(maxsize=16)
def trusted_dirs(loader: str) -> tuple[str, ...] | None:
    """The system directories (without the trailing '/') of the glibc loader file
    `loader`; None when its file has no such string."""
    try:
        with open_regular(loader) as stream:
            data = stream.read()
    except OSError:
        return None
    runs = [m.group(1).split(b"\0")[:-1] for m in RUN.finditer(data)]
    runs = [run for run in runs if all(b"lib" in entry for entry in run)]
    if not runs:
        return None
    longest = max(runs, key=len)  # the first of the longest: tail-merged copies are shorter
    return tuple(entry.decode("utf-8", "surrogateescape").rstrip("/") or "/" for entry in longest)
