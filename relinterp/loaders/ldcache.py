"""glibc's /etc/ld.so.cache, read through `ldconfig -p`: library name -> files, in the
order glibc's loader tries them.

The cache is a binary file whose format glibc has changed over the years (the libc5-era
layout, the "glibc-ld.so.cache1.1" one, hwcaps entries since 2.33), and ldconfig -- glibc's
own reader, present wherever glibc is -- prints it in a text form that has not changed in
decades:

    564 libs found in cache `/etc/ld.so.cache'
    \tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1
    \tlibfoo.so.1 (libc6,x86-64, hwcap: "x86-64-v3") => /usr/lib/glibc-hwcaps/x86-64-v3/libfoo.so.1

so relinterp asks it rather than parse the file again.  Entries for another ABI (a
32-bit libc6, musl's "ELF" ones) are kept: the loader's rules skip files for another
machine, as glibc does.  Entries for a glibc-hwcaps subdirectory are left out: glibc
takes them only on CPUs that have those features, and a bundle must run on any CPU.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess

ENTRY = re.compile(r"\t(\S+) \(([^)]*)\) => (.+)")
LDCONFIG_PLACES = ("/sbin/ldconfig", "/usr/sbin/ldconfig")


def find_ldconfig() -> str | None:
    found = shutil.which("ldconfig")
    if found is not None:
        return found
    return next((place for place in LDCONFIG_PLACES if os.access(place, os.X_OK)), None)


@functools.lru_cache(maxsize=8)
def read_cache(cache: str) -> dict[str, tuple[str, ...]] | None:
    """name -> paths for the cache file `cache`; {} when there is no such file, None when
    it cannot be read (no ldconfig, or ldconfig refuses it)."""
    if not os.path.exists(cache):
        return {}
    ldconfig = find_ldconfig()
    if ldconfig is None:
        return None
    try:
        listing = subprocess.run([ldconfig, "-p", "-C", cache], capture_output=True, text=True, timeout=30,
                                 errors="surrogateescape")
    except (OSError, subprocess.TimeoutExpired):
        return None
    if listing.returncode != 0:
        return None
    return parse_listing(listing.stdout)


def parse_listing(text: str) -> dict[str, tuple[str, ...]]:
    entries: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = ENTRY.fullmatch(line)
        if match is None or "hwcap:" in match.group(2):
            continue
        entries.setdefault(match.group(1), []).append(match.group(3))
    return {name: tuple(paths) for name, paths in entries.items()}
