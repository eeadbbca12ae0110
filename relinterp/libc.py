"""Which C library a program was linked against, told from its interpreter's name."""

from __future__ import annotations

import fnmatch
import posixpath

MUSL = "musl"
GLIBC = "glibc"
UNKNOWN = "unknown"

# musl's loader is ld-musl-ARCH.so.1 (Debian installs it as ARCH-linux-musl/libc.so and
# links the usual name to it); glibc's is ld-linux-ARCH.so.N, or ld64.so.N on s390x and
# powerpc64.
_MUSL_NAMES = ("ld-musl-*.so.1",)
_MUSL_PATHS = ("*/*-linux-musl*/libc.so",)
_GLIBC_NAMES = ("ld-linux*.so.*", "ld64.so.*")


def libc_family(interp: str) -> str:
    """"musl", "glibc" or "unknown" for a PT_INTERP path."""
    name = posixpath.basename(interp)
    if any(fnmatch.fnmatchcase(name, p) for p in _MUSL_NAMES) or \
            any(fnmatch.fnmatchcase(interp, p) for p in _MUSL_PATHS):
        return MUSL
    if any(fnmatch.fnmatchcase(name, p) for p in _GLIBC_NAMES):
        return GLIBC
    return UNKNOWN
