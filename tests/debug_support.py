"""A program to debug, built for musl and glibc, PIE or not, stripped or not, and shipped
patched and unpatched; gdb run on it in batch mode, and what its transcript shows.

The program (programs/debug/) has 4 threads, a thread-local variable in libtls.so and a
plugin, libcrash.so, that it dlopen()s and whose function crashes.  The unpatched copy
runs with the machine's loader; the patched one with the loader shipped beside it.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import LOADER_REL, MUSL_LOADER, PROGRAMS, ShippedTree, compile_program, relinterp, run, unavailable

SOURCES = PROGRAMS / "debug"
GLIBC_LOADER = "ld-linux-x86-64.so.2"
RUNPATH = "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib"
# Every gdb run: no init files, no questions, pending breakpoints allowed.
GDB_SETUP = ("set pagination off", "set confirm off", "set breakpoint pending on")


@dataclass(frozen=True)
class Variant:
    libc: str  # "musl" or "glibc"
    pie: bool
    stripped: bool

    @property
    def name(self) -> str:
        return f"{self.libc}-{'pie' if self.pie else 'nopie'}{'-stripped' if self.stripped else ''}"


VARIANTS = [Variant(libc, pie, stripped) for libc in ("musl", "glibc") for pie in (True, False)
            for stripped in (False, True)]


@dataclass(frozen=True)
class Debuggees:
    """trees[(variant name, patched)]: a shipped tree with bin/app and lib/."""

    trees: dict

    def tree(self, variant: Variant, patched: bool) -> ShippedTree:
        return self.trees[(variant.name, patched)]


def _compiler(libc: str) -> str:
    name = "musl-gcc" if libc == "musl" else "gcc"
    if shutil.which(name) is None:
        unavailable(f"{name} is needed to build the program to debug")
    return name


def _build(root: Path, variant: Variant) -> None:
    cc, lib = _compiler(variant.libc), root / "lib"
    lib.mkdir(parents=True)
    (root / "bin").mkdir()
    compile_program([cc, "-g"], lib / "libtls.so", "-shared", "-fPIC", SOURCES / "tls.c")
    compile_program([cc, "-g"], lib / "libcrash.so", "-shared", "-fPIC", SOURCES / "crash.c")
    mode = ["-pie", "-fPIE"] if variant.pie else ["-no-pie", "-fno-pie"]
    app = compile_program([cc, "-g", *mode], root / "bin" / "app", SOURCES / "app.c", f"-L{lib}", "-ltls",
                          "-pthread", "-ldl", RUNPATH)
    if variant.stripped:
        assert run(["strip", app]).returncode == 0


def _ship_loader(root: Path, libc: str) -> str:
    """Copy the loader (and glibc's libc) into lib/; returns --loader-rel."""
    if libc == "musl":
        shutil.copy2(MUSL_LOADER, root / "lib" / "ld-musl.so")
        return LOADER_REL
    for name in (GLIBC_LOADER, "libc.so.6"):
        found = run(["gcc", f"-print-file-name={name}"], text=True).stdout.strip()
        shutil.copy2(Path(found).resolve(), root / "lib" / name)
    return f"../lib/{GLIBC_LOADER}"


@pytest.fixture(scope="session")
def debuggees(tmp_path_factory) -> Debuggees:
    if shutil.which("gdb") is None:
        unavailable("gdb is needed (apt-get install gdb)")
    if not MUSL_LOADER.exists():
        unavailable("Debian's musl loader is needed (apt-get install musl-tools)")
    base = tmp_path_factory.mktemp("debuggees")
    trees = {}
    for variant in VARIANTS:
        plain = base / variant.name
        _build(plain, variant)
        patched = base / f"{variant.name}-patched"
        shutil.copytree(plain, patched, symlinks=True)
        result = relinterp("patch", patched / "bin" / "app", "--loader-rel", _ship_loader(patched, variant.libc))
        assert result.returncode == 0, result.stderr
        trees[(variant.name, False)] = ShippedTree(plain)
        trees[(variant.name, True)] = ShippedTree(patched)
    return Debuggees(trees)


def gdb(args, commands, *, prefix=(), timeout: int = 120) -> str:
    """gdb in batch mode: `commands` run in order on `args` (the program and its
    arguments, or options such as -p PID); `prefix` runs gdb itself (unshare ...)."""
    script = [arg for command in (*GDB_SETUP, *commands) for arg in ("-ex", command)]
    result = run([*prefix, "gdb", "-nx", "-batch", *script, *args], text=True, timeout=timeout)
    return result.stdout + result.stderr


CRASH_SESSION = ("break plugin_fn", "run", "info threads", "print tls_var", "continue", "bt",
                 "info sharedlibrary")


@dataclass(frozen=True)
class Transcript:
    """What a gdb session showed, in terms that hold for either copy of the program."""

    breakpoint_hit: bool
    threads: tuple[str, ...]  # "Thread" (libthread_db's view) or "LWP", per thread
    tls_var: str | None
    crashed: bool
    frames: tuple[str, ...]  # function names of the backtrace, innermost first
    libraries: tuple[tuple[str, str], ...]  # (file name, Syms Read), the loader as "loader"

    @classmethod
    def parse(cls, text: str) -> Transcript:
        threads = re.findall(r"^\*?\s+\d+\s+(Thread|LWP) ", text, re.M)
        tls = re.search(r"^\$1 = (.*)$", text, re.M)
        frames = []
        # Up to the first frame in the C library: past it, a stripped libc leaves gdb to
        # guess from whatever the stack holds.
        for name, library in re.findall(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(.*\)(?: at \S+)?(?: from (\S+))?$",
                                        text, re.M):
            frames.append(name)
            if Path(library).name.startswith(("ld-", "libc.")):
                break
        libraries = re.findall(r"^0x[0-9a-f]+\s+0x[0-9a-f]+\s+(Yes|No)(?: \(\*\))?\s+(\S+)$", text, re.M)
        return cls(
            breakpoint_hit=re.search(r"hit Breakpoint 1, .*plugin_fn", text) is not None,
            threads=tuple(threads),
            tls_var=tls.group(1) if tls else None,
            crashed="SIGSEGV" in text,
            frames=tuple(frames),
            libraries=tuple(sorted(("loader" if Path(path).name.startswith("ld-") else Path(path).name, syms)
                                   for syms, path in libraries)),
        )
