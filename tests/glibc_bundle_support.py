"""Fixtures for glibc release trees: small libraries built with gcc, glibc's own loader
listing what it loads (`ld.so --list PROGRAM`) to check relinterp's closure against, and
private ld.so.cache files.

The libraries, in `build/` with no RPATH/RUNPATH and SONAMEs equal to their names:
    libmid.so       needs libbase.so (so libbase.so is found, or not, by libmid.so's rules)
    libbase.so
    libplugin.so    loaded only by dlopen
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from conftest import PROGRAMS, run, unavailable

FOUND = re.compile(r"\t(\S+) => (/\S+) \(0x[0-9a-f]+\)")
NOT_FOUND = re.compile(r"\t(\S+) => not found")


def gcc(out: Path, *args) -> Path:
    result = run(["gcc", "-o", out, *args], text=True)
    assert result.returncode == 0, result.stderr
    return out


def shared(out: Path, source: str, *args) -> Path:
    """A shared library whose SONAME is its file name."""
    return gcc(out, "-shared", "-fPIC", PROGRAMS / source, f"-Wl,-soname,{out.name}", *args)


@dataclass(frozen=True)
class ChainLibs:
    build: Path

    def __getitem__(self, name: str) -> Path:
        return self.build / name


@pytest.fixture(scope="session")
def chain_libs(tmp_path_factory, system_glibc) -> ChainLibs:
    build = tmp_path_factory.mktemp("glibc-chain") / "build"
    build.mkdir()
    shared(build / "libbase.so", "base.c")
    shared(build / "libmid.so", "mid.c", f"-L{build}", "-lbase")
    shared(build / "libplugin.so", "plugin.c")
    return ChainLibs(build)


def chain_program(out: Path, libs: Path, *link) -> Path:
    """chain.c, linked to libmid.so in `libs`, with extra linker arguments (its search path)."""
    return gcc(out, PROGRAMS / "chain.c", f"-L{libs}", "-lmid", f"-Wl,-rpath-link,{libs}", *link)


@dataclass(frozen=True)
class Listing:
    """What a loader maps: (first name, real path) per library in load order, and the names
    it could not find.  The loader itself and the vDSO are left out."""

    found: tuple[tuple[str, str], ...]
    missing: frozenset[str]


def glibc_listing(loader: str, program: Path, *, env: dict | None = None, cache: Path | None = None) -> Listing:
    """glibc's loader run as ldd runs it: `LD_TRACE_LOADED_OBJECTS=1 LOADER PROGRAM` (like
    `LOADER --list PROGRAM`, but going on past a library not found); with `cache`, that
    file stands in for /etc/ld.so.cache (bind-mounted over it in a private mount namespace)."""
    argv = [loader, program]
    if cache is not None:  # the variable is for the loader alone: unshare, sh and mount are glibc programs too
        script = 'mount --bind "$0" /etc/ld.so.cache && LD_TRACE_LOADED_OBJECTS=1 exec "$@"'
        argv = ["unshare", "-m", "sh", "-c", script, cache, *argv]
    else:
        env = {"LD_TRACE_LOADED_OBJECTS": "1", **(env or {})}
    result = run(argv, text=True, env={"PATH": os.environ["PATH"], **(env or {})})
    assert result.returncode == 0, result.stdout + result.stderr
    found = tuple((m.group(1), os.path.realpath(m.group(2))) for m in FOUND.finditer(result.stdout))
    return Listing(found, frozenset(m.group(1) for m in NOT_FOUND.finditer(result.stdout)))


def closure_listing(closure) -> Listing:
    """The same shape from relinterp's closure."""
    from relinterp.loaders.closure import FILE, MISSING

    found, paths = [], set()
    for r in closure.resolutions:
        if r.kind == FILE and os.path.realpath(r.path) not in paths:
            paths.add(os.path.realpath(r.path))
            found.append((r.name, os.path.realpath(r.path)))
    return Listing(tuple(found), frozenset(r.name for r in closure.missing if r.kind == MISSING))


def glibc_rules(system_glibc, *, library_path=(), cache: Path | None = None):
    """relinterp's model of the machine's glibc loader, as bundle makes it; with `cache`,
    reading that file as its ld.so.cache."""
    from relinterp.elf.linked import read_linked_object
    from relinterp.loaders.glibc import GlibcRules, loader_facts

    loader = read_linked_object(os.path.realpath(system_glibc.interp))
    facts = loader_facts(loader.path, loader.elfclass)
    if cache is not None:
        facts = replace(facts, cache=str(cache))
    return GlibcRules(system_glibc.interp, loader=loader.path, loader_soname=loader.soname, facts=facts,
                      library_path=[str(d) for d in library_path])


def private_cache(out: Path, *directories: Path) -> Path:
    """An ld.so.cache of the machine's libraries plus `directories`, made by ldconfig in a
    private mount namespace (ldconfig also rewrites its auxiliary cache in /var/cache)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        unavailable("a private ld.so.cache needs root and unshare (a private mount namespace)")
    conf = out.with_suffix(".conf")
    conf.write_text("".join(f"{d}\n" for d in directories))
    script = 'mount -t tmpfs none /var/cache/ldconfig && exec ldconfig -X -C "$0" -f "$1"'
    result = run(["unshare", "-m", "sh", "-c", script, out, conf], text=True,
                 env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert result.returncode == 0 and out.exists(), result.stderr
    return out
