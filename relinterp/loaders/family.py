"""Which C library a dynamic executable was linked against, told from its loader's name.

The loader is the libc's own dynamic linker, and each family names it its own way:
- musl: `ld-musl-ARCH.so.1` (musl's Makefile installs it so); distributions that keep
  musl beside glibc may name the loader by its real file, `libc.so` in a musl directory
  (Debian: `/lib/x86_64-linux-musl/libc.so`).
- glibc: `ld-linux-ARCH.so.N` (`ld-linux-x86-64.so.2`, `ld-linux-aarch64.so.1`,
  `ld-linux-armhf.so.3`, `ld-linux.so.2` on i386, ...), and `ld64.so.N` on ppc64 and s390x.
Anything else (Android's `linker64`, uClibc's `ld-uClibc.so.0`, a custom name) is unknown:
the name is all there is to go on without running the loader.
"""

from __future__ import annotations

import posixpath
import re

MUSL = "musl"
GLIBC = "glibc"
UNKNOWN = "unknown"

_MUSL_LOADER = re.compile(r"ld-musl-[^/]+\.so(\.[0-9]+)*")
_GLIBC_LOADER = re.compile(r"(ld-linux[^/]*|ld64)\.so\.[0-9]+")


def libc_family(interp: str | None) -> str:
    """MUSL, GLIBC or UNKNOWN for a PT_INTERP path (None, for no PT_INTERP, is UNKNOWN)."""
    if not interp:
        return UNKNOWN
    directory, name = posixpath.split(interp)
    if _MUSL_LOADER.fullmatch(name):
        return MUSL
    if name == "libc.so" and "musl" in directory:
        return MUSL
    if _GLIBC_LOADER.fullmatch(name):
        return GLIBC
    return UNKNOWN


def other_libc(interp: str | None, loader_family: str | None) -> str | None:
    """The libc a program with PT_INTERP `interp` is linked against, when a loader of
    `loader_family` is the other one (it would start, then fail); else None."""
    wanted = libc_family(interp)
    return wanted if wanted != UNKNOWN and loader_family is not None and loader_family != wanted else None
