"""`relinterp patch --embed-loader`: a musl program that needs only libc becomes one file.
It runs alone in an empty root (no loader anywhere, no /proc), dlopen() and LD_PRELOAD
work, it starts with no more system calls than the unpatched program, and every
guarantee of a patched file holds: exact restore, idempotent re-patching, inspect, ldd,
verify, setuid, /proc/self/exe."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from conftest import MUSL_LOADER, PROGRAMS, compile_program, relinterp, run, unavailable
from discovery_support import as_nobody, env_with, setuid_workspace
from relinterp.elf.executable import read_executable

pytestmark = pytest.mark.usefixtures("namespace")

SYSTEM_LOADER = "/lib/ld-musl-x86_64.so.1"  # the name the program's PT_INTERP gives it
SOURCES = PROGRAMS / "embedded"
# Every directory of this machine that holds a musl loader (any architecture's).
MUSL_DIRS = sorted({str(Path(p).parent) for p in Path("/").glob("lib/*-linux-musl*/libc.so")}
                   | {str(Path(p).parent) for p in Path("/").glob("usr/lib/*-linux-musl*/libc.so")})
REWRITTEN = ("the file was rewritten after patching (patchelf, binutils' strip or objcopy?) and its loader cannot be "
             "started; restore it and patch it again")


@dataclass(frozen=True)
class Built:
    dir: Path

    def __getitem__(self, name: str) -> Path:
        return self.dir / name


@pytest.fixture(scope="module")
def built(tmp_path_factory, musl_gcc) -> Built:
    """alone (PIE) and alone-nopie, unpatched and embedded; libplugin.so, libpreload.so."""
    d = tmp_path_factory.mktemp("embedded")
    compile_program(musl_gcc, d / "alone", "-pie", "-fPIE", SOURCES / "alone.c")
    compile_program(musl_gcc, d / "alone-nopie", "-no-pie", "-fno-pie", SOURCES / "alone.c")
    compile_program(musl_gcc, d / "libplugin.so", "-shared", "-fPIC", PROGRAMS / "plugin.c")
    compile_program(musl_gcc, d / "libpreload.so", "-shared", "-fPIC", SOURCES / "preload.c")
    for name in ("alone", "alone-nopie"):
        result = relinterp("patch", d / name, "-o", d / f"{name}.embedded", "--embed-loader", SYSTEM_LOADER)
        assert result.returncode == 0, result.stderr
    return Built(d)


def empty_root(tmp_path: Path, *files: Path) -> Path:
    """A directory holding these files and nothing else (no /lib, no /proc, no /dev)."""
    root = tmp_path / "root"
    root.mkdir(parents=True)
    for f in files:
        shutil.copy2(f, root / f.name.replace(".embedded", ""))
    return root


def in_root(root: Path, argv, **kwargs) -> subprocess.CompletedProcess:
    """argv run with `root` as its root directory (as root: chroot)."""

    def enter() -> None:
        os.chroot(root)
        os.chdir("/")

    return run(argv, text=True, preexec_fn=enter, **kwargs)


@pytest.mark.parametrize("name", ["alone", "alone-nopie"])
def test_the_program_runs_as_one_file_in_an_empty_root(built, tmp_path, name):
    root = empty_root(tmp_path, built[f"{name}.embedded"], built["libplugin.so"], built["libpreload.so"])
    assert sorted(p.name for p in root.iterdir()) == [name, "libplugin.so", "libpreload.so"]
    result = in_root(root, [f"/{name}"])
    assert (result.returncode, result.stdout, result.stderr) == (0, "hello\n", "")
    control = empty_root(tmp_path / "control", built[name])
    with pytest.raises(FileNotFoundError):  # the unpatched one: execve finds no PT_INTERP there
        in_root(control, [f"/{name}"])
    assert in_root(root, [f"/{name}", "plugin", "/libplugin.so"]).stdout == "plugin 42\n"
    assert in_root(root, [f"/{name}", "preload"], env={"LD_PRELOAD": "/libpreload.so"}).stdout == "preload loaded\n"
    assert in_root(root, [f"/{name}", "exe"]).stdout == f"exe (none)\nargv0 /{name}\n"  # no /proc to read


def test_in_place_it_runs_with_every_musl_loader_hidden_and_proc_unmounted(built, tmp_path):
    directory = tmp_path / "dir"
    directory.mkdir()
    for name in ("alone.embedded", "libplugin.so", "libpreload.so"):
        shutil.copy2(built[name], directory / name.replace(".embedded", ""))
    shutil.copy2(built["alone"], directory / "unpatched")
    hide = " && ".join(f"mount -t tmpfs none {d}" for d in [*MUSL_DIRS, "/proc"])
    script = (f"{hide} && ls /proc && ./unpatched; echo unpatched $?; ./alone plugin ./libplugin.so && "
              "LD_PRELOAD=./libpreload.so ./alone preload")
    result = run(["unshare", "-m", "sh", "-c", script], cwd=directory, text=True)
    assert "/lib/x86_64-linux-musl" in MUSL_DIRS
    assert result.stdout == "unpatched 127\nplugin 42\npreload loaded\n", result.stderr


def test_restore_gives_the_original_bytes_and_patching_again_changes_nothing(built, tmp_path):
    app = tmp_path / "app"
    shutil.copy2(built["alone.embedded"], app)
    before = (app.stat().st_ino, app.stat().st_mtime_ns)
    again = relinterp("patch", app, "--embed-loader", MUSL_LOADER)  # the same file, by another name
    assert again.stdout == f"{app}: already patched (loader embedded: musl 1.2.3), unchanged\n"
    assert (app.stat().st_ino, app.stat().st_mtime_ns) == before
    assert relinterp("patch", app, "--loader-rel", "ld-musl.so").returncode == 0  # other options: from the original
    shutil.copy2(MUSL_LOADER, tmp_path / "ld-musl.so")
    assert run([app], text=True).stdout == "hello\n"
    assert relinterp("patch", app, "--embed-loader", SYSTEM_LOADER).returncode == 0
    assert hashlib.sha256(app.read_bytes()).digest() == hashlib.sha256(built["alone.embedded"].read_bytes()).digest()
    result = relinterp("restore", app)
    assert result.returncode == 0 and "SHA-256 verified" in result.stdout
    assert app.read_bytes() == built["alone"].read_bytes()


def test_inspect_names_the_embedded_loader(built):
    loader = Path(MUSL_LOADER).read_bytes()
    digest = hashlib.sha256(loader).hexdigest()
    text = relinterp("inspect", built["alone.embedded"]).stdout.splitlines()
    assert text[1] == f"  patched: yes, loader embedded: musl 1.2.3, {len(loader)} bytes, sha256 {digest}"
    document = json.loads(relinterp("inspect", "--json", built["alone.embedded"]).stdout)
    embedded = document["files"][0]["patch"]["embedded_loader"]
    assert (embedded["family"], embedded["version"], embedded["sha256"], embedded["size"]) == (
        "musl", "1.2.3", digest, len(loader))
    assert document["files"][0]["patch"]["candidates"] == []
    exe = read_executable(built["alone.embedded"])
    with open(built["alone.embedded"], "rb") as f:
        f.seek(embedded["offset"])
        assert f.read(len(loader)) == loader  # the loader's file, byte for byte, where inspect says
    assert exe.interp is None and exe.patch.original.interp == SYSTEM_LOADER


def test_ldd_and_verify_know_the_loader_is_in_the_program(built, tmp_path):
    app = built["alone.embedded"]
    ldd = relinterp("ldd", app)
    assert ldd.stdout == f"\tlibc.so => {app} (the loader)\n\t{app} (loader, embedded in the program)\n"
    root = empty_root(tmp_path, app)
    result = relinterp("verify", "--run", "hello", "--no-proc", root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == f"{root}: alone: loader embedded in the program, 0 libraries inside the tree"


def test_the_start_makes_no_more_system_calls_than_the_unpatched_program(built):
    counts = {}
    for name in ("alone", "alone.embedded"):
        trace = run(["strace", "-f", "-qq", "-c", "-U", "calls", built[name]], text=True).stderr
        counts[name] = int(trace.strip().splitlines()[-1].split()[0])
    assert counts["alone.embedded"] <= counts["alone"], counts


def test_the_loader_is_named_by_nothing_and_the_program_is_itself(built):
    result = run([built["alone.embedded"], "loader"], text=True)
    assert result.stdout.splitlines()[:3] == ["libc []", f"object [{built['alone.embedded']}]", "object []"]
    exe = run([built["alone.embedded"], "exe"], text=True)
    assert exe.stdout == f"exe {built['alone.embedded']}\nargv0 {built['alone.embedded']}\n"


def test_run_through_the_loader_itself_it_starts_once(built):
    result = run([MUSL_LOADER, built["alone.embedded"]], text=True)
    assert (result.returncode, result.stdout) == (0, "hello\n"), result.stderr


def test_relinterp_loader_does_not_replace_an_embedded_loader(built, tmp_path):
    result = run([built["alone.embedded"]], text=True, env=env_with(RELINTERP_LOADER="/nonexistent",
                                                                    RELINTERP_DEBUG="1"))
    assert result.stdout == "hello\n"
    assert result.stderr.splitlines()[0] == ("relinterp: RELINTERP_LOADER ignored: the loader is embedded in "
                                             "the program")


def test_a_setuid_program_runs_its_embedded_loader_and_reads_nothing_from_its_caller(built):
    workspace = setuid_workspace()
    try:
        app = workspace / "app"
        shutil.copy2(built["alone.embedded"], app)
        os.chown(app, 0, 0)
        app.chmod(0o755 | stat.S_ISUID)
        env = env_with(RELINTERP_LOADER="/nonexistent", RELINTERP_DEBUG="1")
        hide = " && ".join(f"mount -t tmpfs none {d}" for d in MUSL_DIRS)
        result = run(["unshare", "-m", "sh", "-c", f'{hide} && exec "$@"', "sh", *as_nobody([app])], env=env,
                     text=True)
        assert (result.returncode, result.stdout) == (0, "hello\n")
        assert result.stderr == "relinterp: RELINTERP_DEBUG ignored in a setuid/setgid program\n"
    finally:
        shutil.rmtree(workspace)


@pytest.mark.parametrize("tool", [["strip"], ["patchelf", "--set-rpath", "$ORIGIN"]], ids=["strip", "patchelf"])
def test_after_a_tool_rewrote_the_program_headers_the_stub_says_so(built, tmp_path, tool):
    app = tmp_path / "app"
    shutil.copy2(built["alone.embedded"], app)
    assert run([*tool, app]).returncode == 0
    result = run([app], text=True)
    assert (result.returncode, result.stdout, result.stderr) == (127, "", f"{app}: relinterp: {REWRITTEN}\n")
    inspected = relinterp("inspect", app).stdout
    assert "restore: not byte-exact" in inspected
    if tool[0] == "patchelf":  # it adds a segment
        assert "a tool rewrote them after the loader was embedded, and the stub refuses to start" in inspected
    assert relinterp("restore", app).returncode == 0
    assert run([app], text=True).stdout == "hello\n"  # with the system loader again


def test_after_eu_strip_it_still_runs(built, tmp_path):
    assert run(["eu-strip", built["alone.embedded"], "-o", tmp_path / "eu"]).returncode == 0
    assert run([tmp_path / "eu"], text=True).stdout == "hello\n"


@pytest.mark.parametrize("loader,reason", [
    ("/usr/lib/aarch64-linux-musl/libc.so", "for EM_AARCH64 (64-bit), the program is for EM_X86_64 (64-bit)"),
    ("/lib64/ld-linux-x86-64.so.2", "glibc's loader, the program is a musl program (PT_INTERP "
                                    "/lib/ld-musl-x86_64.so.1)"),
    ("/bin/true", "not a loader (it has PT_INTERP)"),
    ("/etc/hostname", "not an ELF file"),
])
def test_a_file_that_cannot_be_the_loader_is_refused_and_the_program_untouched(built, tmp_path, loader, reason):
    if not os.path.exists(loader):
        pytest.skip(f"{loader} is not on this machine")
    app = tmp_path / "app"
    shutil.copy2(built["alone"], app)
    result = relinterp("patch", app, "--embed-loader", loader)
    assert (result.returncode, result.stderr) == (1, f"{app}: --embed-loader {loader}: {reason}\n")
    assert app.read_bytes() == built["alone"].read_bytes()


def test_embed_loader_with_candidates_is_a_usage_error(built):
    result = relinterp("patch", built["alone"], "--embed-loader", SYSTEM_LOADER, "--loader-rel", "x")
    assert result.returncode == 2 and "--embed-loader is the loader" in result.stderr


def test_a_glibc_tree_with_the_loader_embedded_runs_in_an_empty_root(glibc_programs, tmp_path):
    """bundle --embed-loader: each program carries the loader, LIB_DIR holds its libraries."""
    tree = tmp_path / "dist"
    result = relinterp("bundle", glibc_programs["probe"], glibc_programs["probe-nopie"], "-o", tree, "--embed-loader",
                       "--library-path", glibc_programs.dir, "--include", "libplugin.so")
    assert result.returncode == 0, result.stderr
    libs = {p.name for p in (tree / "lib").iterdir()}
    assert {"libc.so.6", "libplugin.so", "libprobe.so"} <= libs and not {n for n in libs if n.startswith("ld-")}
    for name in ("probe", "probe-nopie"):
        assert read_executable(tree / "bin" / name).patch.config.embedded is not None
    checked = relinterp("verify", tree, "--run", "plugin")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{tree}: bin/probe: loader embedded in the program, 2 libraries inside the tree" in checked.stdout
    assert "| plugin 42 tls 22 other thread 1" in checked.stdout


def test_a_musl_tree_with_the_loader_embedded_has_no_loader_file(built, tmp_path):
    tree = tmp_path / "dist"
    assert relinterp("bundle", built["alone"], "-o", tree, "--embed-loader").returncode == 0
    assert [str(p.relative_to(tree)) for p in sorted(tree.rglob("*"))] == [
        ".relinterp-bundle.json", "bin", "bin/alone", "sbom.cdx.json"]  # the program, and what describes the tree
    assert relinterp("verify", tree, "--run", "hello", "--no-proc").returncode == 0


def test_an_install_prefix_bundled_with_the_loader_embedded_runs_as_its_own_root(built, tmp_path):
    """bundle STAGE --embed-loader: the tree mirrors the prefix, each program where it is
    carrying the loader; chrooted into the tree, with no loader file anywhere, all run."""
    stage = tmp_path / "stage"
    for directory in ("bin", "libexec/app", "lib/app/plugins", "share/app"):
        (stage / directory).mkdir(parents=True)
    shutil.copy2(built["alone"], stage / "bin/app")
    shutil.copy2(built["alone-nopie"], stage / "libexec/app/helper")
    shutil.copy2(built["libplugin.so"], stage / "lib/app/plugins/libplugin.so")
    (stage / "share/app/data.txt").write_text("data\n")
    tree = tmp_path / "dist"
    result = relinterp("bundle", stage, "-o", tree, "--embed-loader")
    assert result.returncode == 0, result.stderr
    assert not [p for p in tree.rglob("*") if p.name.startswith("ld-musl")]
    for program in ("bin/app", "libexec/app/helper"):
        assert read_executable(tree / program).patch.config.embedded is not None, program
        assert in_root(tree, [f"/{program}", "plugin", "/lib/app/plugins/libplugin.so"]).stdout == "plugin 42\n"
    assert (tree / "share/app/data.txt").read_text() == "data\n"


def test_the_sbom_names_the_loader_embedded_in_a_program_with_its_package(built, tmp_path):
    tree = tmp_path / "dist"
    assert relinterp("bundle", built["alone"], "-o", tree, "--embed-loader").returncode == 0
    text = (tree / "sbom.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    program, = json.loads(text)["components"]  # the loader is no file of the tree: a part of the program
    assert program["name"] == "bin/alone" and "the loader" in program["pedigree"]["notes"]
    loader, = program["components"]
    assert loader["hashes"][0]["content"] == hashlib.sha256(Path(SYSTEM_LOADER).read_bytes()).hexdigest()
    assert PackageURL.from_string(loader["purl"]).name == "musl" and "evidence" not in loader


def test_a_program_with_more_bss_than_the_hole_allowed_gets_the_compact_layout(musl_gcc, tmp_path):
    app = compile_program(musl_gcc, tmp_path / "app", SOURCES / "bigbss.c")
    linear = compile_program(musl_gcc, tmp_path / "linear", SOURCES / "alone.c")
    for program in (app, linear):
        assert relinterp("patch", program, "--embed-loader", SYSTEM_LOADER).returncode == 0
    assert app.stat().st_size < 2 << 20  # no 32 MiB hole
    tables = {p: read_executable(p) for p in (app, linear)}
    # The loader's first PT_LOAD starts with the program header table: its address minus
    # its file offset is the first segment's (linear layout), or not (compact).
    shift = {p: next(s.vaddr - s.offset for s in e.loads() if s.offset == e.phoff) for p, e in tables.items()}
    assert shift[linear] == 0 and shift[app] != 0
    assert run([app], text=True).stdout == "hello\n"


def test_dwz_refuses_a_program_with_an_embedded_loader_and_leaves_it_running(musl_gcc, tmp_path):
    if shutil.which("dwz") is None:
        unavailable("dwz is needed (scripts/setup.sh installs it)")
    app = compile_program(musl_gcc, tmp_path / "app", "-g", SOURCES / "alone.c")
    assert relinterp("patch", app, "--embed-loader", SYSTEM_LOADER).returncode == 0
    before = app.read_bytes()
    result = run(["dwz", app], text=True)
    assert result.returncode != 0 and "Allocatable section" in result.stderr
    assert app.read_bytes() == before and run([app], text=True).stdout == "hello\n"
