"""Fixtures: real programs built with musl-gcc during the run, trees to ship them in, and
a way to run them with the system's musl loader made unreachable.

What a test needs from the machine (musl-gcc, root and unshare) is checked once; when it
is missing the test is skipped with the reason, except under CI=true, where a skip would
hide a broken set-up and so fails instead.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PROGRAMS = Path(__file__).parent / "programs"
MUSL_DIR = Path("/lib/x86_64-linux-musl")  # Debian's musl: the loader is libc.so in here
MUSL_LOADER = MUSL_DIR / "libc.so"
IN_CI = os.environ.get("CI") == "true"
# The fixtures of these modules are everyone's: no test imports a fixture.
pytest_plugins = ["bundle_support", "glibc_support", "glibc_bundle_support", "packaging_support", "debug_support",
                  "cross_support", "sandbox_support", "trace_support"]
# A private mount namespace in which the system musl loader does not exist.
HIDE_MUSL = f'mount -t tmpfs none {MUSL_DIR} && exec "$@"'


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true, so this cannot be skipped: {reason}")
    pytest.skip(reason)


def installed(name: str, package: str) -> str:
    """The command `name`, found on PATH; the test is unavailable without it."""
    found = shutil.which(name)
    if found is None:
        unavailable(f"{name} is needed (apt-get install {package})")
    return found


def run(argv, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("timeout", 120)
    return subprocess.run([os.fspath(a) for a in argv], **kwargs)


def relinterp(*args, **kwargs) -> subprocess.CompletedProcess:
    """The real command line, in a child process."""
    return run([sys.executable, "-m", "relinterp", *args], text=True, **kwargs)


def run_hidden(argv, *, hide_proc: bool = False, **kwargs) -> subprocess.CompletedProcess:
    """Run argv where /lib/x86_64-linux-musl is an empty tmpfs (and, if asked, /proc too)."""
    kwargs.setdefault("text", True)
    script = f"mount -t tmpfs none /proc && {HIDE_MUSL}" if hide_proc else HIDE_MUSL
    return run(["unshare", "-m", "sh", "-c", script, "sh", *argv], **kwargs)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def musl_gcc() -> str:
    cc = shutil.which("musl-gcc")
    if cc is None or not MUSL_LOADER.exists():
        unavailable("musl-gcc and Debian's musl loader are needed (apt-get install musl-tools)")
    return cc


@pytest.fixture(scope="session")
def namespace() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        unavailable("hiding the system loader needs root and unshare")
    probe = run(["unshare", "-m", "sh", "-c", HIDE_MUSL, "sh", "true"])
    if probe.returncode != 0:
        unavailable(f"cannot make a private mount namespace: {probe.stderr.decode().strip()}")


@dataclass(frozen=True)
class Programs:
    """Programs built once per run, in `dir`: programs["name"] is the file."""

    dir: Path

    def __getitem__(self, name: str) -> Path:
        return self.dir / name


def compile_program(compiler, out: Path, *args) -> Path:
    """Build `out` with a real toolchain: `compiler` is its command, a name or a list
    (with flags); the test fails with the compiler's diagnostics if it cannot."""
    command = [compiler] if isinstance(compiler, (str, os.PathLike)) else list(compiler)
    result = run([*command, "-o", out, *args])
    assert result.returncode == 0, result.stderr.decode()
    return out


def build_probes(compiler, d: Path) -> list:
    """The probe (PIE and not), its library and a plugin, into `d`, built with `compiler`
    (compile_program's). Returns the probe's sources and options."""
    build = functools.partial(compile_program, compiler)
    build(d / "libshared.so", "-shared", "-fPIC", PROGRAMS / "shared.c")
    build(d / "libplugin.so", "-shared", "-fPIC", PROGRAMS / "plugin.c")
    probe = [PROGRAMS / "probe.c", f"-L{d}", "-lshared", "-pthread", "-rdynamic",
             "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib"]
    build(d / "probe", "-pie", "-fPIE", *probe)
    build(d / "probe-nopie", "-no-pie", "-fno-pie", *probe)
    return probe


@pytest.fixture(scope="session")
def programs(tmp_path_factory, musl_gcc) -> Programs:
    d = tmp_path_factory.mktemp("programs")
    build_probes(musl_gcc, d)
    compile_program(musl_gcc, d / "hello", PROGRAMS / "hello.c")
    compile_program(musl_gcc, d / "static", "-static", PROGRAMS / "hello.c")
    compile_program(musl_gcc, d / "static-pie", "-static-pie", "-Wl,--no-dynamic-linker", PROGRAMS / "hello.c")
    compile_program(musl_gcc, d / "object.o", "-c", PROGRAMS / "hello.c")
    return Programs(d)


@dataclass(frozen=True)
class ShippedTree:
    """A shipped tree: bin/app, and lib/ with the loader (under `loader_name`) and the
    program's libraries."""

    root: Path
    loader_name: str = "ld-musl.so"

    @property
    def app(self) -> Path:
        return self.root / "bin" / "app"

    @property
    def lib(self) -> Path:
        return self.root / "lib"

    @property
    def loader(self) -> Path:
        return self.lib / self.loader_name



LOADER_REL = "../lib/ld-musl.so"


@pytest.fixture
def ship_program(tmp_path, programs):
    """ship_program(program, patch=True, root=None) -> ShippedTree: a musl program shipped
    with the loader and its libraries, patched through the real command line."""

    def make(program: str = "probe", patch: bool = True, root: Path | None = None) -> ShippedTree:
        dist = ShippedTree(root or tmp_path / f"dist-{program}")
        (dist.root / "bin").mkdir(parents=True)
        (dist.root / "lib").mkdir()
        shutil.copy2(programs[program], dist.app)
        shutil.copy2(MUSL_LOADER, dist.loader)
        for lib in ("libshared.so", "libplugin.so"):
            shutil.copy2(programs[lib], dist.root / "lib" / lib)
        if patch:
            result = relinterp("patch", dist.app, "--loader-rel", LOADER_REL)
            assert result.returncode == 0, result.stderr
        return dist

    return make
