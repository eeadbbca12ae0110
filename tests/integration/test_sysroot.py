"""Trees for other machines, made on this one: a program with its own shared library,
cross-built against a sysroot, is bundled with `--sysroot SYSROOT --library-path
BUILD_DIR`, and `verify --run` proves the tree in an empty root under qemu-user.

glibc: Debian's cross toolchains and their sysroots /usr/TRIPLET (i386's runs natively).  musl: Debian's
multiarch packages, whose files are at their own paths on this machine (sysroot "/"),
and for riscv64 the tree scripts/musl-riscv64.sh unpacks (build/musl-riscv64/root).
Then the sysroot's own rules, each in a small sysroot made here: ld.so.conf and its
includes, musl's path file, symbolic links resolved inside the sysroot, absolute RPATH
entries, a file outside it refused, and verify --sysroot.
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from arch_support import CROSS_GLIBC, RISCV64_MUSL, TARGETS
from conftest import PROGRAMS, compile_program, relinterp, run, unavailable
from relinterp.loaders.glibc import parse_diagnostics
from relinterp.loaders.trusted_dirs import trusted_dirs

GLIBC_ARCHES = ["aarch64", "riscv64", "s390x", "ppc64le", "arm", "i386"]
MUSL_SYSROOTS = {"aarch64": Path("/"), "riscv64": RISCV64_MUSL / "root", "s390x": Path("/"), "ppc64le": Path("/"),
                 "arm": Path("/"), "i386": Path("/")}
NATIVE = {"i386"}  # runs on x86_64 without an emulator
ANSWER = "answer 41\n"  # answer.c calling libshared.so


@dataclass(frozen=True)
class CrossBuild:
    arch: str
    libc: str
    dir: Path  # the build directory: app, libshared.so
    sysroot: Path

    @property
    def app(self) -> Path:
        return self.dir / "app"


def _build(libc: str, arch: str, d: Path, *link) -> CrossBuild:
    cc = [CROSS_GLIBC[arch].cc] if libc == "glibc" else list(TARGETS[arch].cc)
    compile_program(cc, d / "libshared.so", "-shared", "-fPIC", PROGRAMS / "shared.c")
    compile_program(cc, d / "app", PROGRAMS / "answer.c", f"-L{d}", "-lshared", *link)
    sysroot = CROSS_GLIBC[arch].lib_dir.parent if libc == "glibc" else MUSL_SYSROOTS[arch]
    return CrossBuild(arch, libc, d, sysroot)


def _missing(libc: str, arch: str) -> str | None:
    return CROSS_GLIBC[arch].missing() if libc == "glibc" else TARGETS[arch].missing()


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[tuple[str, str], CrossBuild]:
    wanted = [("glibc", arch) for arch in GLIBC_ARCHES] + [("musl", arch) for arch in MUSL_SYSROOTS]
    for libc, arch in wanted:
        if _missing(libc, arch):
            unavailable(f"{libc} {arch}: {_missing(libc, arch)}")
    with ThreadPoolExecutor() as pool:
        jobs = {key: pool.submit(_build, *key, tmp_path_factory.mktemp(f"{key[0]}-{key[1]}")) for key in wanted}
        return {key: job.result() for key, job in jobs.items()}


def verify_run(tree: Path, *args, **kwargs) -> tuple[int, dict]:
    result = relinterp("verify", tree, "--run", "", "--json", *args, **kwargs)
    return result.returncode, json.loads(result.stdout)


@pytest.mark.parametrize("libc, arch", [("glibc", a) for a in GLIBC_ARCHES] + [("musl", a) for a in MUSL_SYSROOTS])
def test_a_cross_built_program_bundled_from_its_sysroot_runs_in_an_empty_root_under_qemu(builds, tmp_path, libc,
                                                                                         arch):
    build = builds[(libc, arch)]
    tree = tmp_path / "dist"
    result = relinterp("bundle", build.app, "-o", tree, "--sysroot", build.sysroot, "--library-path", build.dir)
    assert result.returncode == 0, result.stderr
    # The loader (and glibc's libc) come from the sysroot, the library from the build directory.
    shipped = {p.name: p.read_bytes() for p in (tree / "lib").iterdir()}
    assert shipped.pop("libshared.so") == (build.dir / "libshared.so").read_bytes()
    if libc == "glibc":
        assert shipped.pop("libc.so.6") == (build.sysroot / "lib" / "libc.so.6").read_bytes()
        # What glibc loads by name comes from the sysroot too: its unwinder, its NSS modules.
        by_name = {n for n in shipped if n.startswith("libnss_") or n in ("libgcc_s.so.1", "libresolv.so.2")}
        assert {"libgcc_s.so.1", "libnss_compat.so.2"} <= by_name
        for name in by_name:
            assert shipped.pop(name) == (build.sysroot / "lib" / name).read_bytes(), name
        assert shipped == {CROSS_GLIBC[arch].loader_name: (build.sysroot / "lib" /
                                                           CROSS_GLIBC[arch].loader_name).read_bytes()}
    else:
        assert list(shipped.values()) == [TARGETS[arch].loader.read_bytes()]
    status, document = verify_run(tree)
    assert status == 0, document
    ran = document["trees"][0]["programs"][0]["run"]
    runner = "/bundle/bin/app" if arch in NATIVE else f"/emulator/qemu-{arch}-static"
    assert (ran["argv"][0], ran["status"], ran["stdout"]) == (runner, 0, ANSWER)


def test_without_the_sysroot_the_cross_loader_is_not_found_and_the_refusal_says_so(builds, tmp_path):
    build = builds[("glibc", "s390x")]
    result = relinterp("bundle", build.app, "-o", tmp_path / "dist", "--library-path", build.dir)
    assert result.returncode == 1
    assert ("/lib/ld64.so.1: loader: cannot read (No such file or directory) (built against a sysroot? pass "
            "--sysroot DIR)") in result.stderr
    assert not (tmp_path / "dist").exists()


@pytest.fixture
def s390x_tree(builds, tmp_path) -> Path:
    build = builds[("glibc", "s390x")]
    tree = tmp_path / "dist"
    assert relinterp("bundle", build.app, "-o", tree, "--sysroot", build.sysroot,
                     "--library-path", build.dir).returncode == 0
    return tree


def bin_dir_with(tmp_path: Path, *tools: str) -> Path:
    """A PATH holding only these tools of this machine."""
    path = tmp_path / "path"
    path.mkdir()
    for tool in tools:
        os.symlink(shutil.which(tool), path / tool)
    return path


def test_without_an_emulator_run_exits_4_naming_the_package_and_the_other_checks_still_pass(s390x_tree, tmp_path):
    from relinterp.verify.emulator import _binfmt_entry

    registered = _binfmt_entry(str(s390x_tree / "bin" / "app"))  # a machine may run s390x through binfmt_misc
    env = {"PATH": str(bin_dir_with(tmp_path, "bwrap", "true", "qemu-s390x"))}  # qemu-s390x: dynamically linked
    result = relinterp("verify", s390x_tree, "--run", "", env=env)
    if registered is None:
        assert result.returncode == 4, result.stderr
        assert result.stderr == (f"{s390x_tree}/bin/app: --run: no emulator for s390x programs that can run in "
                                 "the empty root; qemu-s390x on PATH is dynamically linked and cannot run there: "
                                 "install qemu-user-static (apt-get install qemu-user-static)\n")
        assert result.stdout == ""  # nothing was run, nothing judged
    else:
        assert result.returncode == 0, result.stdout
    checked = relinterp("verify", s390x_tree, env=env)
    assert (checked.returncode, checked.stdout.splitlines()[-1]) == (0, f"{s390x_tree}: ok")


def test_the_emulator_is_the_one_file_of_this_machine_in_the_empty_root(builds, tmp_path):
    build = builds[("musl", "s390x")]
    tree = tmp_path / "dist"
    assert relinterp("bundle", build.app, "-o", tree, "--sysroot", "/", "--library-path", build.dir).returncode == 0
    unpatched = tree / "bin" / "unpatched"
    shutil.copy2(build.app, unpatched)
    interp = "/lib/ld-musl-s390x.so.1"
    # Control: on this machine qemu finds the unpatched program's loader (musl:s390x).
    assert run(["qemu-s390x", unpatched], text=True, env={"LD_LIBRARY_PATH": str(build.dir)}).stdout == ANSWER
    for sandbox in ("bwrap", "unshare+chroot"):
        status, document = verify_run(tree, "--sandbox", sandbox)
        programs = {p["path"]: p["run"] for p in document["trees"][0]["programs"]}
        assert status == 1
        assert programs["bin/app"]["stdout"] == ANSWER
        assert programs["bin/unpatched"]["status"] != 0 and interp in programs["bin/unpatched"]["stderr"]


@pytest.mark.parametrize("arch", GLIBC_ARCHES)
def test_a_loaders_system_directories_read_from_its_file_are_what_it_says_when_run(arch):
    glibc = CROSS_GLIBC[arch]
    if glibc.missing():
        unavailable(glibc.missing())
    loader = glibc.lib_dir / glibc.loader_name
    said = run([glibc.qemu, loader, "--list-diagnostics"], text=True)
    if arch == "arm":  # glibc 2.36's --list-diagnostics fails an assertion there (dl-printf.c: 200)
        assert said.returncode != 0 and "invalid format specifier" in said.stderr
        debian = (f"/lib/{glibc.multiarch}", f"/usr/lib/{glibc.multiarch}", "/lib", "/usr/lib")
        assert trusted_dirs(str(loader)) == debian
        return
    assert said.returncode == 0, said.stderr
    assert trusted_dirs(str(loader)) == parse_diagnostics(said.stdout).system_dirs


# ---------------------------------------------------------------- a sysroot made here


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def aarch64_sysroot(builds, tmp_path) -> Path:
    """root/lib: aarch64's glibc; libshared.so in root/opt/shared/lib, which ld.so.conf's
    include names through root/usr/local/shared, an absolute link to /opt/shared/lib."""
    glibc, root = CROSS_GLIBC["aarch64"], tmp_path / "root"
    (root / "lib").mkdir(parents=True)
    for name in (glibc.loader_name, "libc.so.6"):
        shutil.copy2(glibc.lib_dir / name, root / "lib" / name)
    (root / "opt" / "shared" / "lib").mkdir(parents=True)
    shutil.copy2(builds[("glibc", "aarch64")].dir / "libshared.so", root / "opt" / "shared" / "lib")
    (root / "usr" / "local").mkdir(parents=True)
    (root / "usr" / "local" / "shared").symlink_to("/opt/shared/lib")
    write(root / "etc" / "ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n")
    write(root / "etc" / "ld.so.conf.d" / "shared.conf", "# the shared library\n/usr/local/shared\n")
    return root


def test_libraries_are_found_through_the_sysroots_ld_so_conf_and_its_links(aarch64_sysroot, builds, tmp_path):
    app = builds[("glibc", "aarch64")].app
    listed = relinterp("ldd", "--sysroot", aarch64_sysroot, app)
    assert listed.returncode == 0, listed.stdout
    assert f"\tlibshared.so => {aarch64_sysroot}/opt/shared/lib/libshared.so\n" in listed.stdout
    assert f"\tlibc.so.6 => {aarch64_sysroot}/lib/libc.so.6\n" in listed.stdout
    tree = tmp_path / "dist"
    assert relinterp("bundle", app, "-o", tree, "--sysroot", aarch64_sysroot).returncode == 0
    assert (tree / "lib" / "libshared.so").read_bytes() == (builds[("glibc", "aarch64")].dir /
                                                           "libshared.so").read_bytes()
    assert verify_run(tree)[1]["trees"][0]["programs"][0]["run"]["stdout"] == ANSWER
    # Control: without the configuration the library is nowhere the loader looks.
    (aarch64_sysroot / "etc" / "ld.so.conf").unlink()
    assert relinterp("ldd", "--sysroot", aarch64_sysroot, app).returncode == 1


def test_include_names_a_file_of_this_machine_not_of_the_target(aarch64_sysroot, builds, tmp_path):
    plugin = tmp_path / "plugins" / "libplugin.so"
    plugin.parent.mkdir()
    compile_program([CROSS_GLIBC["aarch64"].cc], plugin, "-shared", "-fPIC", PROGRAMS / "plugin.c")
    tree = tmp_path / "dist"
    result = relinterp("bundle", builds[("glibc", "aarch64")].app, "-o", tree, "--sysroot", aarch64_sysroot,
                       "--include", plugin)
    assert result.returncode == 0, result.stderr
    assert (tree / "lib" / "libplugin.so").read_bytes() == plugin.read_bytes()


def test_an_absolute_rpath_entry_is_the_targets_directory(aarch64_sysroot, builds, tmp_path):
    build = builds[("glibc", "aarch64")]
    app = tmp_path / "app"
    compile_program([CROSS_GLIBC["aarch64"].cc], app, PROGRAMS / "answer.c", f"-L{build.dir}", "-lshared",
                    "-Wl,-rpath,/opt/shared/lib")
    (aarch64_sysroot / "etc" / "ld.so.conf").unlink()
    listed = relinterp("ldd", "--sysroot", aarch64_sysroot, app)
    assert f"\tlibshared.so => {aarch64_sysroot}/opt/shared/lib/libshared.so\n" in listed.stdout, listed.stdout


def test_a_library_linked_out_of_the_build_directory_is_refused_by_name(builds, tmp_path):
    build = builds[("glibc", "s390x")]
    (tmp_path / "elsewhere").mkdir()
    stray = tmp_path / "elsewhere" / "libshared.so"
    shutil.copy2(build.dir / "libshared.so", stray)
    libs = tmp_path / "libs"
    libs.mkdir()
    (libs / "libshared.so").symlink_to(stray)
    result = relinterp("bundle", build.app, "-o", tmp_path / "dist", "--sysroot", build.sysroot, "--library-path", libs)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f"{libs}/libshared.so: libshared.so (needed by {build.app}): found in {libs}, it is {stray}, outside that "
        f"directory and outside the sysroot {build.sysroot}: a file of this machine is not put into a tree for "
        "another")
    assert not (tmp_path / "dist").exists()


@pytest.fixture
def s390x_musl_sysroot(tmp_path) -> Path:
    """root/lib/ld-musl-s390x.so.1, an absolute link to musl's libc.so, and a path file."""
    root = tmp_path / "root"
    (root / "usr" / "lib" / "musl").mkdir(parents=True)
    shutil.copy2(TARGETS["s390x"].loader, root / "usr" / "lib" / "musl" / "libc.so")
    (root / "lib").mkdir()
    (root / "lib" / "ld-musl-s390x.so.1").symlink_to("/usr/lib/musl/libc.so")
    write(root / "etc" / "ld-musl-s390x.path", "/opt/m\n")
    return root


def test_musls_path_file_in_the_sysroot_names_its_directories(s390x_musl_sysroot, builds, tmp_path):
    build = builds[("musl", "s390x")]
    shutil.copytree(build.dir, s390x_musl_sysroot / "opt" / "m")
    tree = tmp_path / "dist"
    result = relinterp("bundle", build.app, "-o", tree, "--sysroot", s390x_musl_sysroot)
    assert result.returncode == 0, result.stderr
    assert (tree / "lib" / "ld-musl-s390x.so.1").read_bytes() == TARGETS["s390x"].loader.read_bytes()
    assert verify_run(tree)[1]["trees"][0]["programs"][0]["run"]["stdout"] == ANSWER
    (s390x_musl_sysroot / "etc" / "ld-musl-s390x.path").unlink()  # then musl's own defaults, in the sysroot
    missing = relinterp("bundle", build.app, "-o", tmp_path / "again", "--sysroot", s390x_musl_sysroot)
    assert missing.returncode == 1
    root = s390x_musl_sysroot
    assert f"searched {root}/lib, {root}/usr/local/lib, {root}/usr/lib)" in missing.stderr


def test_verify_with_a_sysroot_finds_what_the_tree_leaves_to_the_target(aarch64_sysroot, builds, tmp_path):
    tree = tmp_path / "dist"
    app = builds[("glibc", "aarch64")].app
    assert relinterp("bundle", app, "-o", tree, "--sysroot", aarch64_sysroot, "--exclude", "libshared.so")\
        .returncode == 0
    alone = relinterp("verify", tree)
    assert alone.returncode == 1 and "libshared.so: not found inside the tree" in alone.stdout
    with_target = relinterp("verify", tree, "--sysroot", aarch64_sysroot, "--json")
    assert with_target.returncode == 0, with_target.stdout
    libraries = json.loads(with_target.stdout)["trees"][0]["programs"][0]["libraries"]
    assert libraries == {"libshared.so": f"{aarch64_sysroot}/opt/shared/lib/libshared.so",
                         "libc.so.6": "lib/libc.so.6"}


@pytest.mark.parametrize("sandbox", ["bwrap", "unshare+chroot"])
def test_a_program_under_the_emulator_sees_only_the_tree_and_can_write_to_neither(builds, tmp_path, sandbox):
    target = TARGETS["s390x"]
    app = tmp_path / "rootprobe"
    compile_program(target.cc, app, PROGRAMS / "rootprobe.c")
    tree = tmp_path / "dist"
    assert relinterp("bundle", app, "-o", tree, "--sysroot", "/").returncode == 0
    emulator = "/emulator/qemu-s390x-static"
    result = relinterp("verify", tree, "--run", emulator, "--sandbox", sandbox, "--json")
    ran = json.loads(result.stdout)["trees"][0]["programs"][0]["run"]
    assert (result.returncode, ran["argv"]) == (0, [emulator, "/bundle/bin/rootprobe", emulator])
    seen = ran["stdout"].splitlines()
    assert seen[:2] == ["/: bundle dev emulator proc tmp", "/bundle/bin/written: Read-only file system"]
    # The running emulator cannot be written (not its owner, as root's programs run as nobody;
    # else ETXTBSY; without that check, its read-only mount).
    assert seen[2] in (f"{emulator}: Permission denied", f"{emulator}: Text file busy",
                       f"{emulator}: Read-only file system")
    assert seen[3:] == ["/etc/passwd: No such file or directory"]


@pytest.mark.parametrize("command", [["bundle", "-o", "out"], ["ldd"], ["verify"]])
def test_a_sysroot_that_is_not_a_directory_is_a_usage_error(command, tmp_path):
    app = tmp_path / "app"
    app.write_bytes(b"")
    for sysroot in (tmp_path / "missing", app):
        result = relinterp(command[0], app, *command[1:], "--sysroot", sysroot, cwd=tmp_path)
        assert result.returncode == 2
        assert "--sysroot" in result.stderr and str(sysroot) in result.stderr
    assert not (tmp_path / "out").exists()
