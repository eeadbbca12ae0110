"""`relinterp verify`: the static checks catch what would reach outside the tree, and
`--run` proves a tree starts in an empty root (and that an unpatched program cannot)."""

from __future__ import annotations

import os
import shutil

import pytest

from bundle_support import bundle, bundle_chain, compile_c
from conftest import PROGRAMS, relinterp, run
from relinterp import __version__ as relinterp_version
from report_support import valid_document
from relinterp.verify.sandbox import SANDBOXES

pytestmark = pytest.mark.usefixtures("musl_gcc")


def verify(*args):
    return relinterp("verify", *args)


def fails(result, tree, *findings: str) -> None:
    """verify exited 1 and reported each of `findings` ("PATH: CHECK: MESSAGE") in `tree`."""
    assert result.returncode == 1, result.stdout + result.stderr
    for finding in findings:
        assert f"{tree}: FAIL {finding}" in result.stdout.splitlines(), result.stdout


@pytest.fixture
def tree(project, tmp_path):
    """The project bundled, then moved to another directory."""
    bundle_chain(project, tmp_path / "dist")
    moved = tmp_path / "moved" / "app"
    moved.parent.mkdir()
    os.rename(tmp_path / "dist", moved)
    return moved


@pytest.fixture(params=SANDBOXES)
def sandbox(request, namespace):
    return request.param


def test_a_moved_tree_passes_and_runs_in_an_empty_root(tree, sandbox):
    result = verify(tree, "--run", "root", "--sandbox", sandbox)
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines[:2] + lines[-1:] == [
        f"{tree}: bin/chain: loader lib/ld-musl-x86_64.so.1, 2 libraries inside the tree",
        f"{tree}: bin/chain: ran /bundle/bin/chain root in an empty root: exit status 0",
        f"{tree}: ok",
    ]
    assert sorted(lines[2:-1]) == [f"  | {entry}" for entry in ("/bundle", "/dev", "/proc", "/tmp")]


def test_the_dlopened_library_is_found_in_the_empty_root(tree, sandbox):
    result = verify(tree / "bin/chain", "--run", "plugin", "--sandbox", sandbox)
    assert result.returncode == 0, result.stdout
    assert "  | plugin 84" in result.stdout.splitlines()


def test_an_unpatched_program_fails_statically_and_in_the_empty_root(project, sandbox):
    result = verify(project["chain"], "--run", "value", "--sandbox", sandbox)
    status = 1 if sandbox == "bwrap" else 127  # bwrap's or chroot's status for a failed exec
    fails(result, project.build, "chain: loader: not patched: the kernel loads its loader from PT_INTERP "
                                 "/lib/ld-musl-x86_64.so.1, outside the tree",
          f"chain: run: exited with status {status} in the empty root")
    assert f"chain: ran /bundle/chain value in an empty root: exit status {status}" in result.stdout
    assert "No such file or directory" in result.stdout  # the kernel found no PT_INTERP there


def test_a_library_missing_from_the_tree_is_named(tree):
    os.unlink(tree / "lib/libbase.so")
    fails(verify(tree), tree, "lib/libmid.so: libraries: libbase.so: not found inside the tree")


def test_a_library_found_only_outside_the_tree_is_caught(tree, project):
    """On the build machine this tree would start: libmid.so's RUNPATH reaches the build."""
    os.unlink(tree / "lib/libbase.so")
    assert run(["patchelf", "--set-rpath", project.build, tree / "lib/libmid.so"]).returncode == 0
    assert run([tree / "bin/chain"]).returncode == 0
    fails(verify(tree), tree, "lib/libmid.so: libraries: libbase.so: not found inside the tree",
          f"lib/libmid.so: search-path: RPATH/RUNPATH entry {project.build} leaves the tree")


def test_an_absolute_link_is_caught(tree, project):
    os.unlink(tree / "lib/libbase.so")
    (tree / "lib/libbase.so").symlink_to(project["libbase.so"])
    fails(verify(tree), tree, f"lib/libbase.so: symlink: points to {project['libbase.so']}, outside the tree")


def test_a_file_for_another_machine_is_caught(tree, tmp_path):
    if shutil.which("aarch64-linux-gnu-as") is None:
        pytest.fail("aarch64-linux-gnu-as missing (apt-get install binutils-aarch64-linux-gnu)")
    (tmp_path / "arm.s").write_text(".text\n.globl f\nf: ret\n")
    assert run(["aarch64-linux-gnu-as", "-o", tmp_path / "arm.o", tmp_path / "arm.s"]).returncode == 0
    assert run(["aarch64-linux-gnu-ld", "-shared", "-o", tree / "lib/libarm.so", tmp_path / "arm.o"]).returncode == 0
    fails(verify(tree), tree, "lib/libarm.so: machine: EM_AARCH64 (64-bit) differs from bin/chain's EM_X86_64")


def test_dt_relr_is_caught_for_an_old_musl(tree, tmp_path):
    os.unlink(tree / "lib/libbase.so")
    compile_c(tree / "lib/libbase.so", "-shared", "-fPIC", "-Wl,-z,pack-relative-relocs", PROGRAMS / "base.c")
    fails(verify(tree), tree, "lib/libbase.so: relocations: uses DT_RELR relocations, which need musl >= 1.2.4; "
                              "the loader is musl 1.2.3")


@pytest.mark.usefixtures("namespace")
def test_without_proc_musl_cannot_expand_the_programs_origin(tree):
    result = verify(tree, "--run", "value", "--no-proc")
    fails(result, tree, "bin/chain: libraries: libmid.so: not found inside the tree")
    assert ("  | Error loading shared library libmid.so: No such file or directory (needed by /bundle/bin/chain)"
            in result.stdout.splitlines())


def test_excluded_libraries_are_expected_from_the_target(project, tmp_path):
    out = tmp_path / "dist"
    assert bundle(project["chain"], "-o", out, "--library-path", project.build, "--exclude", "libmid*").returncode == 0
    assert sorted(p.name for p in (out / "lib").iterdir()) == ["ld-musl-x86_64.so.1"]
    fails(verify(out), out, "bin/chain: libraries: libmid.so: not found inside the tree")
    assert verify(out, "--exclude", "libmid*").returncode == 0


@pytest.mark.usefixtures("namespace")
def test_json_report(tree, project):
    result = verify(tree, project["chain"], "--json", "--run", "exit 3")
    assert result.returncode == 1
    report = valid_document(result.stdout, "verify")
    assert (report["relinterp"], report["command"], report["schema"], report["ok"], report["exit_code"]) == \
        (relinterp_version, "verify", 1, False, 1)
    bundled, unpatched = report["trees"]
    program = bundled["programs"][0]
    assert (bundled["ok"], program["path"], program["loader"]) == (False, "bin/chain", "lib/ld-musl-x86_64.so.1")
    assert program["libraries"] == {"libmid.so": "lib/libmid.so", "libbase.so": "lib/libbase.so"}
    assert program["run"]["status"] == 3 and program["run"]["argv"] == ["/bundle/bin/chain", "exit", "3"]
    assert program["findings"] == [{"path": "bin/chain", "check": "run",
                                    "message": "exited with status 3 in the empty root"}]
    assert [f["check"] for f in unpatched["programs"][0]["findings"]] == ["loader", "run"]


def test_a_path_that_does_not_exist_is_refused(tmp_path):
    result = verify(tmp_path / "nothing")
    assert (result.returncode, result.stderr) == \
        (1, f"{tmp_path / 'nothing'}: cannot read (No such file or directory)\n")


def test_an_unreadable_elf_file_is_caught(tree):
    (tree / "lib/libbroken.so").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(9))
    result = verify(tree)
    assert result.returncode == 1
    assert any(line.startswith(f"{tree}: FAIL lib/libbroken.so: file: truncated ELF header")
               for line in result.stdout.splitlines()), result.stdout
