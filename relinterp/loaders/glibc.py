"""glibc's dynamic loader: where it looks for libraries, what it learns from the loader
file itself, and which glibc build a loader or libc file is.

The rules, as glibc's elf/dl-load.c (_dl_map_object, open_path, open_verify,
_dl_dst_substitute) applies them to a name without '/':
- a name equal to one an object was loaded by, or to a loaded object's SONAME, is that
  object; the loader answers to its SONAME and to the program's PT_INTERP;
- when the needing object has no DT_RUNPATH: the DT_RPATH of that object, then of the
  object that loaded it, and so on up to the program (an object with DT_RUNPATH has its
  DT_RPATH ignored everywhere);
- LD_LIBRARY_PATH (':' or ';' separated);
- the DT_RUNPATH of the needing object only: it is not passed along the chain;
- ld.so.cache (SYSCONFDIR/ld.so.cache), then the build's system directories; both are
  skipped when the needing object has DF_1_NODEFLIB (ld -z nodefaultlib);
- a file for another ELF class or machine is skipped and the search goes on; any other
  file is taken (and a broken one is an error);
- `$ORIGIN`, `$LIB`, `$PLATFORM` (and `${...}`) are expanded in each list entry; an
  entry whose token has no value (no /proc for the program's `$ORIGIN`) is dropped; an
  unknown `$NAME` stays as it is written.  `$ORIGIN` of a library is the directory of
  the path it was found by, of the program that of /proc/self/exe;
- dlopen() of a bare name searches on behalf of the object calling it.
Not modelled: glibc-hwcaps and legacy hwcaps subdirectories (x86-64-v3/, haswell/, tls/):
the files in the directory itself are what runs on every CPU.

The loader's build-time facts -- its system directories, `$LIB`, `$PLATFORM`, its cache
file -- come from `ld.so --list-diagnostics` (glibc >= 2.33), run on the
build machine.  A loader that cannot be run there (one for another machine, or where
nothing may run) has its system directories read from its file
(relinterp.loaders.trusted_dirs), `$LIB`/`$PLATFORM` unknown; failing that, glibc's
generic defaults.

In a sysroot (relinterp.loaders.sysroot) every directory the loader names is the
target's, found there; ld.so.cache is what ldconfig would make of the sysroot's
ld.so.conf (relinterp.loaders.ldconf).
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..elf.model import elf_ident
from ..elf.regular import open_regular
from .closure import Node
from .ldcache import read_cache
from .ldconf import conf_dirs
from .sysroot import HOST, Sysroot
from .trusted_dirs import trusted_dirs

CACHE = "ld.so.cache"
PRIVATE = "GLIBC_PRIVATE"  # the versions by which libc.so.6 and the loader share internals
GENERIC_PACKAGE = "GNU libc"  # glibc's PKGVERSION when the builder names none
TOKEN = re.compile(r"\$(?:\{(ORIGIN|LIB|PLATFORM)\}|(ORIGIN|LIB|PLATFORM)(?![A-Za-z0-9_]))")
# The banner glibc builds into libc.so.6 ("GNU C Library (Debian GLIBC 2.36-9+deb12u14)
# stable release version 2.36.") and, since 2.33, into ld.so ("ld.so (...) ... 2.36.").
BANNER = re.compile(rb"(?:GNU C Library|ld\.so) \(([^()\0\n]*)\) ([a-z]+ )?release version (\d+\.\d+(?:\.\d+)?)")
DIAGNOSTIC = re.compile(r'([a-z_.]+(?:\[0x[0-9a-f]+\])?)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class LoaderFacts:
    """What a glibc loader was built with, as far as its search is concerned."""

    system_dirs: tuple[str, ...]
    lib: str | None  # the value of $LIB
    platform: str | None  # the value of $PLATFORM (the CPU's, on the machine that ran the loader)
    cache: str  # its ld.so.cache


def default_facts(elfclass: int = 64) -> LoaderFacts:
    """glibc's generic configuration, for a loader that cannot say its own."""
    lib = "lib64" if elfclass == 64 else "lib"
    return LoaderFacts(system_dirs=(f"/{lib}", f"/usr/{lib}"), lib=None, platform=None, cache=f"/etc/{CACHE}")


def file_facts(loader: str, elfclass: int = 64) -> LoaderFacts:
    """The facts of the loader file `loader` that can be read without running it."""
    dirs = trusted_dirs(loader)
    return LoaderFacts(dirs, None, None, f"/etc/{CACHE}") if dirs else default_facts(elfclass)


@functools.lru_cache(maxsize=8)
def loader_facts(loader: str, elfclass: int = 64) -> LoaderFacts:
    """The facts of the loader file `loader`, by running it with --list-diagnostics (it
    prints them and exits; nothing else runs); what its file says if it cannot run here."""
    try:
        result = subprocess.run([loader, "--list-diagnostics"], capture_output=True, text=True, env={},
                                timeout=30, errors="surrogateescape")
    except (OSError, subprocess.TimeoutExpired):
        return file_facts(loader, elfclass)
    if result.returncode != 0:
        return file_facts(loader, elfclass)
    return parse_diagnostics(result.stdout) or file_facts(loader, elfclass)


def parse_diagnostics(text: str) -> LoaderFacts | None:
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = DIAGNOSTIC.fullmatch(line)
        if match:
            values[match.group(1)] = re.sub(r'\\([\\"])', r"\1", match.group(2))
    dirs = tuple(value.rstrip("/") or "/" for key, value in sorted(values.items(), key=_index)
                 if key.startswith("path.system_dirs["))
    if not dirs or "path.sysconfdir" not in values:
        return None
    return LoaderFacts(system_dirs=dirs, lib=values.get("dl_dst_lib"), platform=values.get("dl_platform"),
                       cache=os.path.join(values["path.sysconfdir"], CACHE))


def _index(item: tuple[str, str]) -> tuple[str, int]:
    key = item[0]
    if "[" in key:
        return key.split("[")[0], int(key.split("[")[1].rstrip("]"), 16)
    return key, 0


@functools.lru_cache(maxsize=32)
def glibc_build(path: str) -> str | None:
    """Which glibc build the file is from, by the banner libc.so.6 and ld.so carry:
    "PACKAGE VERSION RELEASE", e.g. "Debian GLIBC 2.36-9+deb12u14 2.36 stable"."""
    return build_of(_banner(path))


def glibc_package(path: str) -> str | None:
    """The package string of the build (glibc's --with-pkgversion), from the banner of
    libc.so.6 or ld.so: "Debian GLIBC 2.36-9+deb12u14".  None for glibc's default
    "GNU libc", which names no build."""
    parts = _banner(path)
    return parts[0] if parts and parts[0] and parts[0] != GENERIC_PACKAGE else None


def carries_package(path: str, package: str) -> bool:
    """glibc's own programs (getent, iconv, ldconfig...) print "NAME (PACKAGE) VERSION"
    for --version and so carry "(PACKAGE) " as a string: the build they come from."""
    try:
        with open(path, "rb") as stream:
            return b"(" + package.encode() + b") \0" in stream.read()
    except OSError:
        return False


@functools.lru_cache(maxsize=32)
def _banner(path: str) -> tuple[str, str, str] | None:
    try:
        with open_regular(path) as stream:
            return banner_in(stream.read())
    except OSError:
        return None


def banner_in(data: bytes) -> tuple[str, str, str] | None:
    """(package, release, version) of the banner in a glibc file's bytes."""
    match = BANNER.search(data)
    if match is None:
        return None
    package, release, version = (part.decode("ascii", "replace").strip() if part else "" for part in match.groups())
    return package, release, version


def build_of(parts: tuple[str, str, str] | None) -> str | None:
    """A banner's parts as glibc_build() words them."""
    if parts is None:
        return None
    package, release, version = parts
    return " ".join(filter(None, (package, version, release)))


class GlibcRules:
    """glibc's search, for a loader known by the pathname `loader_name` (the program's
    PT_INTERP, or the path relinterp's stub hands it) whose file is `loader`."""

    by_soname = True

    def __init__(self, loader_name: str, *, loader: str | None = None, loader_soname: str | None = None,
                 facts: LoaderFacts | None = None, library_path: Sequence[str] = (), proc: bool = True,
                 sysroot: Sysroot = HOST) -> None:
        self.loader = loader
        self.facts = facts or default_facts()
        self.names = {loader_name, loader_soname or os.path.basename(loader_name)}
        self.library_path = tuple(library_path)
        self.proc = proc
        self.sysroot = sysroot
        self.system_dirs = tuple(sysroot.locate(d) for d in self.facts.system_dirs)
        self.cache, self.cache_file = self._cache(self.facts.cache, sysroot)
        # A sysroot's cache: the directories of its ld.so.conf (relinterp.loaders.ldconf).
        self.cache_dirs = conf_dirs(sysroot, os.path.join(os.path.dirname(self.facts.cache), "ld.so.conf")) \
            if sysroot.is_foreign else None

    @staticmethod
    def _cache(path: str, sysroot: Sysroot) -> tuple[dict[str, tuple[str, ...]], str]:
        if not sysroot.is_host:
            return {}, sysroot.locate(path)  # only this machine's cache can be read (ldconfig -p)
        entries = read_cache(path)
        if entries is None:
            return {}, f"{path} (unreadable: needs ldconfig)"
        return entries, path

    def provides(self, name: str) -> bool:
        return name in self.names

    def dlopen_needer(self, program: Node) -> Node:
        return program

    def accepts(self, path: str, needer: Node) -> bool:
        """open_verify(): only a file for another ELF class or machine is passed over."""
        ident = elf_ident(path)
        if ident is None:
            return True  # not ELF: glibc stops with an error, and so will reading it
        want = needer.object
        return ident == want.abi

    def candidates(self, name: str, needer: Node) -> Iterator[tuple[str, str]]:
        for directory in self.search_dirs(needer):
            yield directory, os.path.join(directory, name)
        nodeflib = needer.object.nodeflib  # then neither the system directories nor cache entries in them
        yield from self._cache_candidates(name, nodeflib)
        if not nodeflib:
            for directory in self.system_dirs:
                yield directory, os.path.join(directory, name)

    def _cache_candidates(self, name: str, nodeflib: bool) -> Iterator[tuple[str, str]]:
        if self.cache_dirs is not None:
            for directory in self.cache_dirs:
                if not (nodeflib and self._in_system_dir(os.path.join(directory, name))):
                    yield directory, os.path.join(directory, name)
            return
        entries = [path for path in self.cache.get(name, ()) if not (nodeflib and self._in_system_dir(path))]
        for path in entries or [""]:  # "": consulted, no entry
            yield self.cache_file, path

    def search_dirs(self, needer: Node) -> Iterator[str]:
        """The directories before ld.so.cache: RPATHs up the chain, LD_LIBRARY_PATH, RUNPATH.
        (glibc also tries the program's RPATH when the chain did not reach the program; here
        every chain ends at the program.)"""
        if needer.object.runpath is None:
            for node in needer.chain():
                if node.object.runpath is None:  # glibc ignores the RPATH of an object with a RUNPATH
                    yield from self.object_dirs(node, node.object.rpath)
        yield from self.library_path
        yield from self.object_dirs(needer, needer.object.runpath)

    def object_dirs(self, node: Node, text: str | None) -> list[str]:
        """The directories of one RPATH or RUNPATH list, as glibc expands them (an empty
        entry is the working directory)."""
        if not text:
            return []
        dirs = []
        for entry in text.split(":"):
            expanded = self.expand(entry, node) if entry else "."
            if expanded:
                dirs.append(self.sysroot.locate(expanded) if entry.startswith("/") else expanded)
        return dirs

    def expand(self, entry: str, node: Node) -> str | None:
        """`entry` with its tokens replaced; None when one of them has no value."""
        values = {"ORIGIN": node.origin(self.proc), "LIB": self.facts.lib, "PLATFORM": self.facts.platform}
        missing = []

        def value(match: re.Match) -> str:
            token = match.group(1) or match.group(2)
            if values[token] is None:
                missing.append(token)
                return ""
            return values[token]

        expanded = TOKEN.sub(value, entry)
        return None if missing or not expanded else expanded

    def _in_system_dir(self, path: str) -> bool:
        return any(path.startswith(directory.rstrip("/") + "/") for directory in self.system_dirs)

