"""The file system a loader sees on the program's target machine, as found on this one.

That is this machine itself (HOST), or a *sysroot*: a directory holding the target's
files at their paths, so that the target's /lib/ld-linux-aarch64.so.1 is
SYSROOT/lib/ld-linux-aarch64.so.1.  Debian's cross toolchains install one at
/usr/TRIPLET (libc6-dev-arm64-cross: /usr/aarch64-linux-gnu): its lib/ holds the loader
and libc.so.6, which the target's /lib is, and glibc's loader searches /lib, so
`--sysroot /usr/aarch64-linux-gnu` needs no other mapping.  Debian's multiarch packages
(musl:arm64) install the target's files at their own paths on this machine: their
sysroot is "/".

The target's paths -- PT_INTERP, the loader's own directories, ld.so.conf and musl's path
file, absolute RPATH/RUNPATH entries -- are found with `locate`: symbolic links are
resolved one component at a time as the target's kernel would, an absolute link from
the sysroot's top and ".." never above it, so no link leads out of it.  What the build
machine contributes -- --library-path directories, a program's own `$ORIGIN` -- are its
own paths, and a file found there must lie in that directory or in the sysroot
(`admits`): a link from a build directory into this machine's /usr/lib is refused.

`verify` checks a tree as if it were installed where it is: the tree is *mounted* at its
own path, and nothing else exists unless a sysroot is given.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass

MAX_LINKS = 40  # the kernel's limit of symbolic links in one path walk (MAXSYMLINKS)


def inside(path: str, tree: str) -> bool:
    """`path`, with symbolic links followed, lies in directory `tree`."""
    real, root = os.path.realpath(path), os.path.realpath(tree)
    return real == root or real.startswith(root.rstrip("/") + "/")


@dataclass(frozen=True)
class Sysroot:
    directory: str | None  # the target's "/" on this machine; None: nothing but the mounts
    mounts: tuple[str, ...] = ()  # directories of this machine found at their own paths

    @classmethod
    def at(cls, directory: str | None, mounts=()) -> Sysroot:
        """The sysroot `directory` (None: none), with `mounts` at their own paths."""
        real = os.path.realpath(directory) if directory is not None else None
        return cls(real, tuple(os.path.abspath(m) for m in mounts))

    @property
    def is_host(self) -> bool:
        return self.directory == "/"

    @property
    def is_foreign(self) -> bool:
        """A directory other than this machine's root holds the target's files."""
        return self.directory not in (None, "/")

    def locate(self, path: str) -> str:
        """Where the target's absolute `path` is on this machine (links resolved as the
        target resolves them; a part that does not exist is kept as it is written)."""
        if not self.is_foreign or not path.startswith("/") or self._mounted(path):
            return path
        parts, resolved, links = deque(path.split("/")), [], 0
        while parts:
            name = parts.popleft()
            if name in ("", "."):
                continue
            if name == "..":
                resolved = resolved[:-1]
                continue
            try:
                target = os.readlink(os.path.join(self.directory, *resolved, name))
            except OSError:  # not a link, or absent
                resolved.append(name)
                continue
            links += 1
            if links > MAX_LINKS:  # ELOOP: what is left names nothing
                return os.path.join(self.directory, *resolved, name, *parts)
            if target.startswith("/"):
                resolved = []
            parts.extendleft(reversed(target.split("/")))
        return os.path.join(self.directory, *resolved)

    def resolve(self, path: str) -> str:
        """A path of this machine that lies (by name) in the sysroot, its links resolved
        as the target resolves them; any other path as it is."""
        if not self.is_foreign or not path.startswith(self.directory.rstrip("/") + "/"):
            return path
        return self.locate("/" + os.path.relpath(path, self.directory))

    def holds(self, path: str) -> bool:
        """The file at `path` (links followed) is part of the target's file system."""
        if self.is_host:
            return True
        roots = ((self.directory,) if self.directory else ()) + self.mounts
        return any(inside(path, root) for root in roots)

    def admits(self, found: str, searched: str) -> bool:
        """A file found in the directory `searched` may go into a tree for the target: it
        lies in the sysroot, or in the build machine's directory it was found in."""
        return not self.is_foreign or self.holds(found) or inside(found, searched)

    def why_outside(self, found: str, searched: str) -> str:
        """Why a file `admits` refuses is refused, in words."""
        return (f"found in {searched}, it is {os.path.realpath(found)}, outside that directory and outside the "
                f"sysroot {self.directory}: a file of this machine is not put into a tree for another")

    def _mounted(self, path: str) -> bool:
        return any(path == m or path.startswith(m.rstrip("/") + "/") for m in self.mounts)


HOST = Sysroot("/")
