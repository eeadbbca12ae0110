"""`patch --embed-loader` on aarch64, i386, arm (armhf) and riscv64, under qemu-user as
on x86_64 (test_embed.py): a musl program that needs only libc runs as one file in an
otherwise empty directory, its machine's musl loader hidden and /proc not mounted, with
dlopen() and LD_PRELOAD, and restores byte-exact; a glibc program with its glibc's loader
embedded runs from a tree holding its libraries, every other glibc for the machine hidden.
PIE and non-PIE alike."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from arch_support import CROSS_GLIBC, TARGETS
from conftest import PROGRAMS, compile_program, relinterp, run, unavailable
from glibc_support import RPATH
from glibc_support import SOURCES as GLIBC_SOURCES
from test_arch import EMULATED
from test_arch_glibc import run_guest
from test_sysroot import MUSL_SYSROOTS

pytestmark = pytest.mark.usefixtures("namespace")

MODES = {"pie": ("-pie", "-fPIE"), "nopie": ("-no-pie", "-fno-pie")}


def _embed(app: Path, loader: Path) -> Path:
    out = app.with_name(f"{app.name}.embedded")
    result = relinterp("patch", app, "-o", out, "--embed-loader", loader)
    assert result.returncode == 0, result.stderr
    return out


def _musl(arch: str, d: Path) -> Path:
    target = TARGETS[arch]
    compile_program(target.cc, d / "libplugin.so", "-shared", "-fPIC", PROGRAMS / "plugin.c")
    compile_program(target.cc, d / "libpreload.so", "-shared", "-fPIC", PROGRAMS / "embedded" / "preload.c")
    for mode, flags in MODES.items():
        _embed(compile_program(target.cc, d / mode, *flags, PROGRAMS / "embedded" / "alone.c"), target.loader)
    return d


def _glibc(arch: str, d: Path) -> Path:
    glibc = CROSS_GLIBC[arch]
    compile_program(glibc.cc, d / "libprobe.so", "-shared", "-fPIC", GLIBC_SOURCES / "libprobe.c")
    compile_program(glibc.cc, d / "libplugin.so", "-shared", "-fPIC", GLIBC_SOURCES / "plugin.c")
    for mode, flags in MODES.items():
        app = compile_program(glibc.cc, d / mode, *flags, GLIBC_SOURCES / "probe.c", f"-L{d}", "-lprobe", "-pthread",
                              RPATH)
        _embed(app, glibc.lib_dir / glibc.loader_name)
    return d


@pytest.fixture(scope="session")
def embedded_builds(tmp_path_factory) -> dict:
    """(libc, arch) -> the directory of its programs, built and patched in parallel once
    per run; or why they cannot be."""
    jobs, found = {}, {}
    with ThreadPoolExecutor() as pool:
        for arch in EMULATED:
            why = TARGETS[arch].missing()
            found[("musl", arch)] = f"{arch}: {why}" if why else None
            if not why:
                jobs[("musl", arch)] = pool.submit(_musl, arch, tmp_path_factory.mktemp(f"embed-musl-{arch}"))
            why = CROSS_GLIBC[arch].missing()
            found[("glibc", arch)] = f"{arch}: {why}" if why else None
            if not why:
                jobs[("glibc", arch)] = pool.submit(_glibc, arch, tmp_path_factory.mktemp(f"embed-glibc-{arch}"))
        found.update({key: job.result() for key, job in jobs.items()})
    return found


def built(embedded_builds, libc: str, arch: str) -> Path:
    found = embedded_builds[(libc, arch)]
    if isinstance(found, str):
        unavailable(found)
    return found


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("arch", EMULATED)
def test_a_musl_program_runs_as_one_file_with_every_musl_loader_and_proc_hidden(embedded_builds, tmp_path, arch,
                                                                                 mode):
    d, target = built(embedded_builds, "musl", arch), TARGETS[arch]
    directory = tmp_path / "dir"
    directory.mkdir()
    shutil.copy2(d / f"{mode}.embedded", directory / "app")
    shutil.copy2(d / mode, directory / "unpatched")
    for lib in ("libplugin.so", "libpreload.so"):
        shutil.copy2(d / lib, directory / lib)
    hidden = sorted({target.musl_dir, *(t.musl_dir for t in TARGETS.values() if t.musl_dir.is_dir())})
    mounts = " && ".join(f"mount -t tmpfs none {place}" for place in [*hidden, "/proc"])
    qemu = target.qemu
    script = (f"{mounts} && ls /proc && {qemu} ./unpatched; echo unpatched $?; {qemu} ./app && "
              f"{qemu} ./app plugin ./libplugin.so && {qemu} -E LD_PRELOAD=./libpreload.so ./app preload")
    result = run(["unshare", "-m", "sh", "-c", script], cwd=directory, text=True, timeout=120)
    assert result.stdout == "unpatched 255\nhello\nplugin 42\npreload loaded\n", result.stderr


@pytest.mark.parametrize("arch", EMULATED)
def test_a_musl_program_restores_byte_exact(embedded_builds, tmp_path, arch):
    d = built(embedded_builds, "musl", arch)
    shutil.copy2(d / "pie.embedded", tmp_path / "app")
    assert relinterp("restore", tmp_path / "app").returncode == 0
    assert (tmp_path / "app").read_bytes() == (d / "pie").read_bytes()


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("arch", EMULATED)
def test_a_glibc_program_runs_from_its_tree_with_every_other_glibc_hidden(embedded_builds, tmp_path, arch, mode):
    d, glibc = built(embedded_builds, "glibc", arch), CROSS_GLIBC[arch]
    (tmp_path / "bin").mkdir()
    (tmp_path / "lib").mkdir()
    shutil.copy2(d / f"{mode}.embedded", tmp_path / "bin" / "app")
    shutil.copy2(glibc.lib_dir / "libc.so.6", tmp_path / "lib" / "libc.so.6")
    for lib in ("libprobe.so", "libplugin.so"):
        shutil.copy2(d / lib, tmp_path / "lib" / lib)
    assert sorted(p.name for p in (tmp_path / "lib").iterdir()) == ["libc.so.6", "libplugin.so", "libprobe.so"]
    app = tmp_path / "bin" / "app"
    assert run_guest(glibc, [app]).stdout == "hello\n"
    plugin = run_guest(glibc, [app, "plugin"])
    assert plugin.stdout.splitlines()[0] == "plugin 42 tls 22 other thread 1", plugin.stderr
    assert run_guest(glibc, [app, "exe"]).stdout == f"exe {app}\nargv0 {app}\n"


def test_a_program_marked_for_bti_is_refused_a_loader_without_it_which_would_fault_there(tmp_path, monkeypatch):
    """Without an interpreter the kernel (and qemu) maps all of the program's file with
    PROT_BTI when the program is marked for BTI (arch/arm64: arch_elf_adjust_prot): musl's
    code, which has no landing pads, then faults at its first indirect branch."""
    target = TARGETS["aarch64"]
    if target.missing():
        unavailable(f"aarch64: {target.missing()}")
    app = compile_program([*target.cc, "-Wl,-z,force-bti"], tmp_path / "app", PROGRAMS / "embedded" / "alone.c")
    result = relinterp("patch", app, "--embed-loader", target.loader)
    assert result.returncode == 1
    assert "the program is marked for BTI (branch target identification) and the loader is not" in result.stderr
    assert run(["qemu-aarch64", "-cpu", "max", "-L", "/", app], text=True).stdout == "hello\n"  # unpatched: fine
    import relinterp as api
    import relinterp.rewrite.embed as embed

    monkeypatch.setattr(embed, "marked_for_bti", lambda exe, data=None: False)  # what the check prevents
    api.patch(app, output=tmp_path / "forced", embed_loader=target.loader)
    assert run(["qemu-aarch64", "-cpu", "max", tmp_path / "forced"]).returncode == -4  # SIGILL


@pytest.mark.parametrize("libc", ["musl", "glibc"])
@pytest.mark.parametrize("arch", EMULATED)
def test_a_tree_bundled_with_the_loader_embedded_runs_in_an_empty_root(embedded_builds, tmp_path, arch, libc):
    """bundle --embed-loader from the machine's sysroot, then verify --run: the tree and
    the emulator are all the program sees."""
    d = built(embedded_builds, libc, arch)
    sysroot = CROSS_GLIBC[arch].lib_dir.parent if libc == "glibc" else MUSL_SYSROOTS[arch]
    app = d / ("pie" if libc == "glibc" else "nopie")
    tree = tmp_path / "dist"
    result = relinterp("bundle", app, "-o", tree, "--embed-loader", "--sysroot", sysroot, "--library-path", d)
    assert result.returncode == 0, result.stderr
    libs = sorted(p.name for p in (tree / "lib").iterdir()) if (tree / "lib").exists() else []
    assert {"libc.so.6", "libprobe.so"} <= set(libs) if libc == "glibc" else libs == []
    assert not [name for name in libs if name.startswith("ld")]  # no loader file (ld-linux*, ld64.so.*)
    checked = relinterp("verify", tree, "--run", "hello", "--json")
    document = json.loads(checked.stdout)
    ran = document["trees"][0]["programs"][0]["run"]
    assert (checked.returncode, ran["status"], ran["stdout"]) == (0, 0, "hello\n"), checked.stdout
