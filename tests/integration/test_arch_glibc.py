"""Patched glibc programs for aarch64, i386, arm (armhf) and riscv64 run under qemu-user with
their own glibc, shipped beside them, as on x86_64 (test_glibc.py).

Each architecture's probe is built once per run with its cross gcc against Debian's cross
glibc, shipped in bin/ + lib/ with that glibc's loader and libc.so.6, and patched with the
real command line.  Every run is `qemu-<arch>` started explicitly (no binfmt_misc), without
-L or QEMU_LD_PREFIX, in a private mount namespace where every other glibc for the machine
is an empty tmpfs, so the bundle's files are the only glibc the guest can reach.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from arch_support import CROSS_GLIBC, CrossGlibc
from conftest import Programs, ShippedTree, compile_program, relinterp, run, unavailable
from glibc_support import LIFECYCLE, RPATH, SOURCES
from relinterp.elf.executable import read_executable

pytestmark = pytest.mark.usefixtures("namespace")

PROGRAMS = {"probe": ("-pie", "-fPIE"), "probe-nopie": ("-no-pie", "-fno-pie")}
# Started directly (the stub loads glibc's loader), or as `lib/ld-linux-*.so.* bin/app`.
MODES = pytest.mark.parametrize("through_loader", [False, True], ids=["direct", "through-loader"])
# qemu reads these; none may point it at a glibc.
GUEST_ENV = {name: value for name, value in os.environ.items() if not name.startswith("QEMU_")}


def run_guest(glibc: CrossGlibc, argv, *, hidden: bool = True, sysroot: Path | None = None, **kwargs):
    """argv under qemu-<arch>; hidden: where glibc.hidden are empty tmpfs mounts."""
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 60)
    kwargs.setdefault("env", GUEST_ENV)
    command = [glibc.qemu, *(["-L", sysroot] if sysroot else []), *argv]
    if not hidden:
        return run(command, **kwargs)
    return run(["unshare", "-m", "sh", "-c", f'{glibc.hide_script()}exec "$@"', "sh", *command], **kwargs)


@dataclass(frozen=True)
class GlibcCrossPrograms(Programs):
    glibc: CrossGlibc | None = None


def _compile(glibc: CrossGlibc, out: Path, *args) -> None:
    compile_program([glibc.cc, "-O2", "-Wall", "-Wextra"], out, *args)


def _build_programs(glibc: CrossGlibc, d: Path) -> GlibcCrossPrograms:
    _compile(glibc, d / "libprobe.so", "-shared", "-fPIC", SOURCES / "libprobe.c")
    _compile(glibc, d / "libplugin.so", "-shared", "-fPIC", SOURCES / "plugin.c")
    for name, mode in PROGRAMS.items():
        _compile(glibc, d / name, *mode, SOURCES / "probe.c", f"-L{d}", "-lprobe", "-pthread", RPATH)
    assert (read_executable(d / "probe").elf_type, read_executable(d / "probe-nopie").elf_type) == (
        "ET_DYN", "ET_EXEC")
    return GlibcCrossPrograms(d, glibc)


@pytest.fixture(scope="session")
def glibc_builds(tmp_path_factory) -> dict[str, GlibcCrossPrograms | str]:
    """Every architecture's programs, built in parallel once per run (or why they cannot be)."""
    ready = {arch: glibc for arch, glibc in CROSS_GLIBC.items() if glibc.missing() is None}
    with ThreadPoolExecutor() as pool:
        jobs = {arch: pool.submit(_build_programs, glibc, tmp_path_factory.mktemp(f"glibc-{arch}"))
                for arch, glibc in ready.items()}
        built = {arch: job.result() for arch, job in jobs.items()}
    return {arch: built.get(arch) or f"{arch}: {glibc.missing()}" for arch, glibc in CROSS_GLIBC.items()}


@pytest.fixture(scope="session", params=list(CROSS_GLIBC))
def cross_programs(request, glibc_builds) -> GlibcCrossPrograms:
    found = glibc_builds[request.param]
    if isinstance(found, str):
        unavailable(found)
    return found


@dataclass(frozen=True)
class GlibcCrossTree(ShippedTree):
    glibc: CrossGlibc | None = None

    def run(self, *args, through_loader: bool = False, **kwargs):
        argv = [self.loader, self.app, *args] if through_loader else [self.app, *args]
        return run_guest(self.glibc, argv, **kwargs)


def ship(cross_programs: GlibcCrossPrograms, root: Path, program: str = "probe", patch: bool = True) -> GlibcCrossTree:
    """bin/app, and in lib/ the cross glibc's loader and libc.so.6 and the probe's libraries."""
    dist = GlibcCrossTree(root, cross_programs.glibc.loader_name, cross_programs.glibc)
    (root / "bin").mkdir(parents=True)
    dist.lib.mkdir()
    shutil.copy2(cross_programs[program], dist.app)
    for name in (cross_programs.glibc.loader_name, "libc.so.6"):
        shutil.copy2(cross_programs.glibc.lib_dir / name, dist.lib / name)
    for name in ("libprobe.so", "libplugin.so"):
        shutil.copy2(cross_programs[name], dist.lib / name)
    if patch:
        result = relinterp("patch", dist.app, "--loader-rel", f"../lib/{cross_programs.glibc.loader_name}")
        assert result.returncode == 0, result.stderr
    return dist


@pytest.fixture(scope="session", params=list(PROGRAMS), ids=["pie", "nopie"])
def dist(request, cross_programs, tmp_path_factory) -> GlibcCrossTree:
    """A patched tree per architecture and link mode, shared by the tests that only run it."""
    root = tmp_path_factory.mktemp(f"glibc-dist-{cross_programs.glibc.arch}-{request.param}")
    return ship(cross_programs, root / "dist", request.param)


def test_unpatched_program_starts_only_where_its_loader_is_found(cross_programs, tmp_path):
    dist = ship(cross_programs, tmp_path / "dist", patch=False)
    interp = read_executable(dist.app).interp
    assert interp == cross_programs.glibc.interp  # what the namespace hides
    # Control: told where the cross glibc is, qemu finds its loader and the program runs.
    found = run_guest(cross_programs.glibc, [dist.app], hidden=False, sysroot=cross_programs.glibc.lib_dir.parent)
    assert found.stdout == "hello\n", found.stderr
    hidden = run_guest(cross_programs.glibc, [dist.app])
    assert hidden.returncode not in (0, 99), hidden.stderr  # 99: PT_INTERP could not be hidden
    assert f"'{interp}'" in hidden.stderr  # qemu: Could not open '/lib/ld-linux-...'
    # Only the loader is missing: the bundle's own loader runs the same file there.
    assert run_guest(cross_programs.glibc, [dist.loader, dist.app]).stdout == "hello\n"


def test_the_machines_own_loader_is_hidden_where_a_multiarch_package_puts_it(cross_programs, tmp_path):
    """What libc6-i386 installs (`/lib/ld-linux.so.2`, a link into a directory of its own)
    made here in a private namespace, over /usr: the guest still finds no loader, so the
    test above holds whether the machine has such a package or not."""
    glibc = cross_programs.glibc
    dist = ship(cross_programs, tmp_path / "dist", patch=False)
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir(), work.mkdir()
    place = f"/usr/lib/{glibc.arch}-own"
    install = (f'mount -t overlay overlay -o lowerdir=/usr,upperdir={upper},workdir={work} /usr && '
               f'mkdir -p {place} && cp {glibc.lib_dir / glibc.loader_name} {place}/ && '
               f'ln -sf {place}/{glibc.loader_name} /usr{glibc.interp} && exec "$@"')
    found = run(["unshare", "-m", "sh", "-c", install, "sh", glibc.qemu, dist.app], text=True, env=GUEST_ENV)
    assert found.stdout == "hello\n", found.stderr  # control: there, the machine's loader starts it
    hidden = run(["unshare", "-m", "sh", "-c", install, "sh", "unshare", "-m", "sh", "-c",
                  f'{glibc.hide_script()}exec "$@"', "sh", glibc.qemu, dist.app], text=True, env=GUEST_ENV)
    assert hidden.returncode not in (0, 99) and f"'{glibc.interp}'" in hidden.stderr, hidden.stderr


def test_patched_program_runs_and_returns_its_exit_status(dist):
    assert dist.run().stdout == "hello\n"
    assert dist.run("exit", "42").returncode == 42


def test_argv_and_environment_are_passed_through(dist):
    long = "x" * 50_000
    result = dist.run("args", "", long, "a b")
    assert result.stdout.splitlines() == ["argc 5", f"[{dist.app}]", "[args]", "[]", f"[{long}]", "[a b]"]
    env = {**GUEST_ENV, "PROBE_VALUE": "a b=c", "FILL": "y" * 10_000}
    assert dist.run("env", "PROBE_VALUE", env=env).stdout == "PROBE_VALUE=a b=c\n"


@MODES
def test_proc_self_exe_and_argv0(dist, through_loader):
    result = dist.run("exe", through_loader=through_loader)
    # Through the loader, qemu ran the loader; glibc hands the program its own argv[0].
    exe = dist.loader if through_loader else dist.app
    assert result.stdout == f"exe {exe}\nargv0 {dist.app}\n", result.stderr


def test_threads_have_their_own_tls_in_the_program_and_in_a_library(dist):
    result = dist.run("threads")
    assert result.stdout == "threads main_tls 84 lib_tls 828; main thread keeps 7 100\n", result.stderr


def test_dlopen_finds_a_library_beside_it_and_its_tls_is_per_thread(dist):
    lines = dist.run("plugin").stdout.splitlines()
    assert lines[0] == "plugin 42 tls 22 other thread 1"
    assert os.path.realpath(lines[1].removeprefix("from ")) == str(dist.lib / "libplugin.so")


@MODES
def test_constructors_atexit_and_destructors_run_in_order(dist, through_loader):
    # The destructors are run by glibc's _dl_fini, which exit() reaches only through the
    # rtld_fini pointer ld.so passes to the program's entry (x0 on aarch64, edx on i386,
    # r0 on arm, a0 on riscv64): through the loader, the stub must hand it on unchanged.
    result = dist.run("lifecycle", through_loader=through_loader)
    assert (result.returncode, result.stdout) == (0, LIFECYCLE), result.stderr


@MODES
def test_every_mapped_file_comes_from_the_bundle(dist, through_loader):
    # qemu shows the guest's own mappings in /proc/self/maps.
    result = dist.run("maps", through_loader=through_loader)
    mapped = {line.removeprefix("mapped ").strip() for line in result.stdout.splitlines()}
    lib = dist.lib
    assert mapped == {str(dist.app), str(dist.loader), str(lib / "libc.so.6"), str(lib / "libprobe.so")}


def test_missing_loader_exits_127_naming_what_was_tried(cross_programs, tmp_path):
    dist = ship(cross_programs, tmp_path / "dist")
    dist.loader.unlink()
    result = dist.run()
    assert result.returncode == 127
    assert result.stderr == (
        f"{dist.app}: relinterp: no usable loader: {dist.loader} (No such file or directory)\n")


def test_restore_gives_back_the_exact_program(cross_programs, tmp_path):
    dist = ship(cross_programs, tmp_path / "dist")
    result = relinterp("restore", dist.app)
    assert result.returncode == 0, result.stderr
    assert "restored" in result.stdout and "not" not in result.stdout
    assert dist.app.read_bytes() == cross_programs["probe"].read_bytes()
