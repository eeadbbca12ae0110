"""A program to debug, built for musl and glibc, PIE or not, stripped or not, and shipped
patched and unpatched; gdb run on it in batch mode, and what its transcript shows.

The program (programs/debug/) has 4 threads, a thread-local variable in libtls.so and a
plugin, libcrash.so, that it dlopen()s and whose function crashes.  The unpatched copy
runs with the machine's loader; the patched one with the loader shipped beside it.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from arch_support import TARGETS
from conftest import PROGRAMS, ShippedTree, compile_program, relinterp, run, unavailable

SOURCES = PROGRAMS / "debug"
RUNPATH = "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib"
# Every gdb run: no init files, no questions, pending breakpoints allowed.
GDB_SETUP = ("set pagination off", "set confirm off", "set breakpoint pending on")


@dataclass(frozen=True)
class Variant:
    libc: str  # "musl" or "glibc"
    pie: bool
    stripped: bool
    arch: str = "x86_64"  # or "i386", which gdb debugs natively here too

    @property
    def name(self) -> str:
        return (f"{self.libc}-{'pie' if self.pie else 'nopie'}{'-stripped' if self.stripped else ''}"
                f"{'' if self.arch == 'x86_64' else '-' + self.arch}")


VARIANTS = [Variant(libc, pie, stripped) for libc in ("musl", "glibc") for pie in (True, False)
            for stripped in (False, True)]
# Run under qemu-user, debugged through its gdbstub with gdb-multiarch.
QEMU_VARIANTS = [Variant("musl", True, False, arch) for arch in ("aarch64", "arm", "riscv64", "ppc64le", "s390x")]
I386_VARIANTS = [Variant("musl", True, False, "i386"), Variant("musl", False, True, "i386"),
                 Variant("glibc", True, False, "i386")]


@dataclass(frozen=True)
class Toolchain:
    cc: tuple[str, ...]  # a C compiler for the libc and machine
    loader: Path  # what is shipped as lib/<loader_name>
    loader_name: str
    libc: Path | None  # glibc's libc.so.6, shipped beside its loader


def _gcc_file(cc: str, name: str) -> Path:
    return Path(run([cc, f"-print-file-name={name}"], text=True).stdout.strip()).resolve()


def toolchain(libc: str, arch: str) -> Toolchain:
    if libc == "musl":
        target = TARGETS[arch]
        return Toolchain(target.cc, target.loader, "ld-musl.so", None)
    cc, name = ("gcc", "ld-linux-x86-64.so.2") if arch == "x86_64" else ("i686-linux-gnu-gcc", "ld-linux.so.2")
    return Toolchain((cc,), _gcc_file(cc, name), name, _gcc_file(cc, "libc.so.6"))


@dataclass(frozen=True)
class Debuggees:
    """trees[(variant name, patched)]: a shipped tree with bin/app and lib/."""

    trees: dict

    def tree(self, variant: Variant, patched: bool) -> ShippedTree:
        return self.trees[(variant.name, patched)]


def _build(root: Path, variant: Variant, tools: Toolchain) -> None:
    cc, lib = [*tools.cc, "-g"], root / "lib"
    lib.mkdir(parents=True)
    (root / "bin").mkdir()
    compile_program(cc, lib / "libtls.so", "-shared", "-fPIC", SOURCES / "tls.c")
    compile_program(cc, lib / "libcrash.so", "-shared", "-fPIC", SOURCES / "crash.c")
    mode = ["-pie", "-fPIE"] if variant.pie else ["-no-pie", "-fno-pie"]
    app = compile_program([*cc, *mode], root / "bin" / "app", SOURCES / "app.c", f"-L{lib}", "-ltls",
                          "-pthread", "-ldl", RUNPATH)
    if variant.stripped:
        assert run(["strip", app]).returncode == 0


def _ship_loader(root: Path, tools: Toolchain) -> str:
    """Copy the loader (and glibc's libc) into lib/; returns --loader-rel."""
    shutil.copy2(tools.loader, root / "lib" / tools.loader_name)
    if tools.libc is not None:
        shutil.copy2(tools.libc, root / "lib" / "libc.so.6")
    return f"../lib/{tools.loader_name}"


@pytest.fixture(scope="session")
def debuggees(tmp_path_factory) -> Debuggees:
    if shutil.which("gdb") is None:
        unavailable("gdb is needed (apt-get install gdb)")
    base = tmp_path_factory.mktemp("debuggees")
    trees = {}
    for variant in VARIANTS + I386_VARIANTS + QEMU_VARIANTS:
        tools = toolchain(variant.libc, variant.arch)
        if shutil.which(tools.cc[0]) is None or not tools.loader.exists():
            unavailable(f"{tools.cc[0]} and {tools.loader} are needed (bash scripts/setup.sh)")
        if variant.arch in TARGETS and TARGETS[variant.arch].missing():
            unavailable(TARGETS[variant.arch].missing())
        plain = base / variant.name
        _build(plain, variant, tools)
        patched = base / f"{variant.name}-patched"
        shutil.copytree(plain, patched, symlinks=True)
        result = relinterp("patch", patched / "bin" / "app", "--loader-rel", _ship_loader(patched, tools))
        assert result.returncode == 0, result.stderr
        trees[(variant.name, False)] = ShippedTree(plain)
        trees[(variant.name, True)] = ShippedTree(patched)
    return Debuggees(trees)


def gdb(args, commands, *, prefix=(), program: str = "gdb", timeout: int = 120) -> str:
    """gdb in batch mode: `commands` run in order on `args` (the program and its
    arguments, or options such as -p PID); `prefix` runs gdb itself (unshare ...)."""
    script = [arg for command in (*GDB_SETUP, *commands) for arg in ("-ex", command)]
    result = run([*prefix, program, "-nx", "-batch", *script, *args], text=True, timeout=timeout)
    return result.stdout + result.stderr


def gdb_under_qemu(arch: str, argv, commands) -> str:
    """gdb-multiarch on argv run by qemu-<arch> -g: qemu waits for it, and gdb retries the
    connection until qemu listens (`set tcp auto-retry`, on by default)."""
    if shutil.which("gdb-multiarch") is None:
        unavailable("gdb-multiarch is needed (apt-get install gdb-multiarch)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = TARGETS[arch].command(argv)
    command[1:1] = ["-g", str(port)]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as qemu:
        try:
            return gdb([argv[0]], [f"target remote 127.0.0.1:{port}", *commands], program="gdb-multiarch")
        finally:
            qemu.kill()


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
            breakpoint_hit=re.search(r"hit Breakpoint \d+, .*plugin_fn", text) is not None,
            threads=tuple(threads),
            tls_var=tls.group(1) if tls else None,
            crashed="SIGSEGV" in text,
            frames=tuple(frames),
            libraries=tuple(sorted(("loader" if Path(path).name.startswith("ld-") else Path(path).name, syms)
                                   for syms, path in libraries)),
        )
