"""`relinterp restore`: the exact original bytes back, for every program the suite builds
and in every form it patches them; and a working file back from one stripped after
patching, said plainly not to be the original."""

from __future__ import annotations

import shutil

import pytest

import relinterp
from conftest import LOADER_REL, relinterp as relinterp_cli, run, run_hidden, sha256
from relinterp.errors import EXIT_OK
from report_support import copied, invoke, json_run, stripped, without_section_headers

OPTION_SETS = [  # command-line options; the last derives from DT_RUNPATH where there is one
    ["--loader-rel", LOADER_REL],
    ["--loader-rel", "ld.so", "--loader", "/opt/app/lib/ld-musl.so"],
    ["--loader-rel", "../lib/ld-musl.so", "--loader-rel", "../../lib/ld-musl.so", "--loader-rel", "x/" * 200 + "ld.so"],
    ["--fallback-system"],
]
VARIANTS = {
    "as built": copied,
    "strip --strip-all": stripped,
    "no section headers": without_section_headers,
}


def patchable_programs(programs) -> list:
    """Every program the suite builds that relinterp patches (asked of relinterp itself,
    so a program added to the build is covered without a change here)."""
    found = []
    for path in sorted(programs.dir.iterdir()):
        try:
            if relinterp.inspect(path).patchable:
                found.append(path)
        except relinterp.RelinterpError:
            pass
    return found


def test_the_suite_builds_several_patchable_programs(programs):
    names = [p.name for p in patchable_programs(programs)]
    assert {"probe", "probe-nopie", "hello"} <= set(names)
    assert "static" not in names and "libshared.so" not in names


@pytest.mark.parametrize("variant", VARIANTS)
def test_restore_gives_back_the_exact_bytes_of_every_patched_program(programs, tmp_path, variant):
    for program in patchable_programs(programs):
        original = tmp_path / f"{program.name}.original"
        VARIANTS[variant](program, original)
        digest = sha256(original)
        for options in OPTION_SETS:
            patched, restored = tmp_path / f"{program.name}.patched", tmp_path / f"{program.name}.restored"
            assert invoke("patch", original, *options, "-o", patched).exit_code == EXIT_OK
            assert sha256(patched) != digest
            result = invoke("restore", patched, "-o", restored)
            assert result.exit_code == EXIT_OK, result.stderr
            assert sha256(restored) == digest, (program.name, options)
            assert invoke("restore", patched).exit_code == EXIT_OK  # in place, too
            assert sha256(patched) == digest, (program.name, options)


@pytest.fixture
def stripped_after_patching(ship_program):
    """A dist whose bin/app was patched, then stripped."""
    dist = ship_program("probe")
    assert run(["strip", dist.app]).returncode == 0
    assert relinterp.inspect(dist.app).patch.exact_restore is False
    return dist


@pytest.mark.usefixtures("namespace")
def test_restore_of_a_file_stripped_after_patching_gives_a_working_file_and_says_it_is_not_the_original(
        stripped_after_patching):
    app = stripped_after_patching.app
    result = relinterp_cli("restore", app)
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout == f"{app}: restored: PT_INTERP /lib/ld-musl-x86_64.so.1 is back, it runs with the " \
                            "system loader\n"
    assert result.stderr.startswith(f"{app}: warning: not the byte-exact original; the file changed after it "
                                    "was patched, so its original bytes are lost (")
    assert "section headers, were" in result.stderr  # strip dropped some
    info = relinterp.inspect(app)
    assert info.interpreter == "/lib/ld-musl-x86_64.so.1" and info.patch is None and info.patchable
    assert run([app]).stdout == b"hello\n"  # with the system loader
    hidden = run_hidden([app])
    assert hidden.returncode == 127  # control: it needs the system loader again, as before patching
    assert relinterp_cli("patch", app, "--loader-rel", LOADER_REL).returncode == EXIT_OK
    assert run_hidden([app]).stdout == "hello\n"  # and can be patched again


def test_restore_json_marks_the_inexact_restore(stripped_after_patching):
    app = stripped_after_patching.app
    size = app.stat().st_size
    document, result = json_run("restore", app)
    assert result.exit_code == EXIT_OK
    assert document["files"] == [{
        "path": str(app), "status": "restored-not-exact", "output": str(app), "exact": False,
        "interpreter": "/lib/ld-musl-x86_64.so.1", "size": {"before": size, "after": size},
        "differences": document["files"][0]["differences"],
    }]
    assert f"size {size} bytes, was " in document["files"][0]["differences"][-1]
    assert "not the byte-exact original" in result.stderr


def test_restore_to_output_leaves_the_patched_file_untouched(ship_program, tmp_path):
    dist = ship_program("hello")
    digest = sha256(dist.app)
    out = tmp_path / "restored"
    result = invoke("restore", dist.app, "-o", out)
    assert result.stdout == f"{dist.app}: restored into {out} ({out.stat().st_size} bytes, as before patching: SHA-256 verified)\n"
    assert sha256(dist.app) == digest
    assert relinterp.inspect(out).patch is None


def test_restore_of_a_tree_restores_the_patched_files_and_skips_the_rest(programs, tmp_path):
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    for name in ("probe", "hello", "static", "libshared.so"):
        shutil.copy2(programs[name], tree / "bin" / name)
    for name in ("probe", "hello"):
        relinterp.patch(tree / "bin" / name, loader_rel=LOADER_REL)
    (tree / "README").write_text("not a program\n")
    result = invoke("restore", "-r", tree, "-v", "-j", "2")
    assert result.exit_code == EXIT_OK, result.stderr
    assert result.stdout.splitlines()[-1] == "relinterp: 5 files: 2 restored, 3 skipped"
    assert f"{tree / 'bin' / 'static'}: skipped, not patched by relinterp, nothing to restore" in result.stdout
    for name in ("probe", "hello", "static", "libshared.so"):
        assert sha256(tree / "bin" / name) == sha256(programs[name])


def test_a_file_patched_with_the_stub_at_its_end_restores_exactly_and_patches_again(programs, tmp_path):
    """Patches once appended the stub at the end of the file, its section last; such
    files keep restoring exactly, and patching one again lays it out anew."""
    from relinterp.elf.executable import read_executable
    from relinterp.rewrite.digest import original_digest
    from relinterp.rewrite.plan import plan_patch, restore_facts
    from relinterp.rewrite.stub import load_stub
    from relinterp.rewrite.write import apply_plan

    source = programs["probe"]
    exe = read_executable(source)
    old = tmp_path / "old"
    plan = plan_patch(exe, load_stub("x86_64"), (LOADER_REL,), facts=restore_facts(exe, original_digest(exe)),
                      stub_at_end=True)
    apply_plan(plan, str(source), str(old))
    patched = read_executable(old)
    assert patched.patch.segment.offset >= exe.file_size and patched.patch.config.restore.moved_from is None
    assert relinterp.inspect(old).patch.exact_restore
    assert invoke("restore", old, "-o", tmp_path / "restored").exit_code == EXIT_OK
    assert sha256(tmp_path / "restored") == sha256(source)
    assert invoke("patch", old, "--loader-rel", "../lib/other.so").exit_code == EXIT_OK
    again = read_executable(old)
    assert again.patch.config.restore.moved_from is not None and relinterp.inspect(old).patch.exact_restore
    assert invoke("restore", old).exit_code == EXIT_OK and sha256(old) == sha256(source)
