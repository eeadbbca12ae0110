"""Fixtures for glibc programs: built with gcc and g++ against the machine's glibc, shipped
in a tree with that same glibc's loader and libraries, and run where the machine's glibc
cannot be reached.

The machine's glibc is hidden by mounting an empty tmpfs over the one directory that
holds its loader and libraries, in a private mount namespace.  After that mount nothing
linked against glibc can start (the shell that made it is already running, and `exec` is
one of its builtins), which is the point: a program that starts there brought its own.
Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import PROGRAMS, Programs, ShippedTree, compile_program, relinterp, run, unavailable
from relinterp.elf.executable import read_executable

SOURCES = PROGRAMS / "glibc"
LOADER_NAME = "ld-linux-x86-64.so.2"
LOADER_REL = f"../lib/{LOADER_NAME}"
# What the machine's gcc and g++ link every program against, besides the loader.
RUNTIME_LIBS = ("libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1")
OWN_LIBS = ("libprobe.so", "libplugin.so", "libthrower.so")
# DT_RUNPATH serves only the program's own DT_NEEDED entries; DT_RPATH serves its
# libraries' too, and libstdc++.so.6 needs libm.so.6, which it must find in the bundle.
RUNPATH = "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib"
RPATH = "-Wl,--disable-new-dtags,-rpath,$ORIGIN/../lib"
# What the probe's `lifecycle` prints: constructors before main, exit handlers in reverse
# order, then the destructors, which glibc's _dl_fini runs (reached through rtld_fini).
LIFECYCLE = """\
libprobe constructor
main constructor
main
atexit registered second
atexit registered first
main destructor
libprobe destructor
"""


@dataclass(frozen=True)
class SystemGlibc:
    """The machine's glibc: the files a bundle copies, and the directory that holds them."""

    interp: str  # what gcc writes into PT_INTERP, e.g. /lib64/ld-linux-x86-64.so.2
    files: dict[str, Path]  # bundle name -> the real file
    directory: Path

    def hidden_run(self, argv, *, hide_proc: bool = False, **kwargs):
        """Run argv where `directory` is an empty tmpfs (and, if asked, /proc too)."""
        kwargs.setdefault("text", True)
        script = f'mount -t tmpfs none {self.directory} && exec "$@"'
        if hide_proc:
            script = f"mount -t tmpfs none /proc && {script}"
        return run(["unshare", "-m", "sh", "-c", script, "sh", *argv], **kwargs)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is needed for the glibc tests (apt-get install gcc g++)")
    return path


def _machine_file(cc: str, name: str) -> Path:
    """The file the compiler links `name` from (it echoes the bare name if it has none)."""
    found = run([cc, f"-print-file-name={name}"], text=True).stdout.strip()
    if not os.path.isabs(found):
        unavailable(f"{cc} does not know {name}: the machine has no glibc development files")
    return Path(os.path.realpath(found))


@pytest.fixture(scope="session")
def system_glibc(tmp_path_factory) -> SystemGlibc:
    gcc, gxx = _tool("gcc"), _tool("g++")
    files = {name: _machine_file(gxx, name) for name in RUNTIME_LIBS}
    files[LOADER_NAME] = _machine_file(gcc, LOADER_NAME)
    directories = {path.parent for path in files.values()}
    if len(directories) != 1:
        unavailable(f"the machine's glibc is spread over {sorted(map(str, directories))}; "
                    "the tests hide one directory")
    directory = directories.pop()
    hello = tmp_path_factory.mktemp("glibc-probe") / "hello"
    assert run([gcc, "-o", hello, PROGRAMS / "hello.c"]).returncode == 0
    interp = read_executable(hello).interp
    # /lib64/ld-linux-x86-64.so.2 is a symlink into that directory on Debian and Ubuntu:
    # hiding the directory leaves the kernel nothing to load.
    if interp is None or Path(os.path.realpath(interp)).parent != directory:
        unavailable(f"gcc's PT_INTERP {interp} does not resolve into {directory}")
    return SystemGlibc(interp=interp, files=files, directory=directory)


@pytest.fixture(scope="session")
def without_glibc(system_glibc) -> SystemGlibc:
    """system_glibc, once it is known that its directory can be hidden here."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        unavailable("hiding the system glibc needs root and unshare")
    probe = run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs none {system_glibc.directory}"], text=True)
    if probe.returncode != 0:
        unavailable(f"cannot make a private mount namespace: {probe.stderr.strip()}")
    return system_glibc


def _build(compiler: str, out: Path, *args) -> None:
    compile_program([compiler, "-O2", "-Wall", "-Wextra"], out, *args)


@pytest.fixture(scope="session")
def glibc_programs(tmp_path_factory, system_glibc) -> Programs:
    d = tmp_path_factory.mktemp("glibc-programs")
    _build("gcc", d / "libprobe.so", "-shared", "-fPIC", SOURCES / "libprobe.c")
    _build("gcc", d / "libplugin.so", "-shared", "-fPIC", SOURCES / "plugin.c")
    _build("g++", d / "libthrower.so", "-shared", "-fPIC", SOURCES / "thrower.cpp")
    c_probe = [SOURCES / "probe.c", f"-L{d}", "-lprobe", "-pthread", RUNPATH]
    _build("gcc", d / "probe", "-pie", "-fPIE", *c_probe)
    _build("gcc", d / "probe-nopie", "-no-pie", "-fno-pie", *c_probe)
    cxx_probe = [SOURCES / "cxxprobe.cpp", f"-L{d}", "-lthrower", "-pthread", RPATH]
    _build("g++", d / "cxxprobe", "-pie", "-fPIE", *cxx_probe)
    _build("g++", d / "cxxprobe-nopie", "-no-pie", "-fno-pie", *cxx_probe)
    _build("gcc", d / "hello-norunpath", PROGRAMS / "hello.c")
    _build("gcc", d / "static", "-static", PROGRAMS / "hello.c")
    _build("gcc", d / "static-pie", "-static-pie", PROGRAMS / "hello.c")
    return Programs(d)


@pytest.fixture
def ship_glibc_program(tmp_path, system_glibc, glibc_programs):
    """ship_glibc_program(program, patch=True) -> ShippedTree, patched through the real command line."""

    def make(program: str, patch: bool = True) -> ShippedTree:
        bundle = ShippedTree(tmp_path / f"bundle-{program}", LOADER_NAME)
        (bundle.root / "bin").mkdir(parents=True)
        bundle.lib.mkdir()
        shutil.copy2(glibc_programs[program], bundle.app)
        for name, path in system_glibc.files.items():
            shutil.copy2(path, bundle.lib / name)
        for name in OWN_LIBS:
            shutil.copy2(glibc_programs[name], bundle.lib / name)
        if patch:
            result = relinterp("patch", bundle.app, "--loader-rel", LOADER_REL)
            assert result.returncode == 0, result.stderr
        return bundle

    return make
