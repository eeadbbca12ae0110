"""`relinterp ldd`: the libraries a program would load, found by its own loader's rules
(the bundled loader for a patched program), without running the program."""

from __future__ import annotations

import json
import shutil
from importlib.resources import files

import jsonschema
import pytest

from conftest import LOADER_REL, MUSL_LOADER, PROGRAMS, ShippedTree, compile_program, relinterp, run
from interop_support import DEBIAN_PATCHELF, edit, provide_libraries
from report_support import invoke


@pytest.fixture
def dist(tmp_path, programs, musl_gcc) -> ShippedTree:
    """bin/app needing libshared.so from lib/ (RUNPATH $ORIGIN/../lib), patched to lib/ld-musl.so."""
    tree = ShippedTree(tmp_path / "dist")
    (tree.root / "bin").mkdir(parents=True)
    tree.lib.mkdir()
    compile_program(musl_gcc, tree.app, "-pie", "-fPIE", PROGRAMS / "answer.c", f"-L{programs.dir}", "-lshared",
                    "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib")
    shutil.copy2(programs["libshared.so"], tree.lib)
    shutil.copy2(programs["libplugin.so"], tree.lib)
    shutil.copy2(MUSL_LOADER, tree.loader)
    assert relinterp("patch", tree.app, "--loader-rel", LOADER_REL).returncode == 0
    return tree


def ldd_document(*args) -> dict:
    result = invoke("ldd", *args, "--json")
    document = json.loads(result.stdout)
    schema = json.loads((files("relinterp") / "schema" / "ldd.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(document)
    assert document["exit_code"] == result.exit_code
    return document


def test_a_patched_program_lists_its_bundled_loader_and_libraries(dist):
    result = invoke("ldd", dist.app)
    assert result.exit_code == 0
    assert f"\tlibshared.so => {dist.root}/bin/../lib/libshared.so\n" in result.stdout
    assert f"\tlibc.so => {dist.loader} (the loader)\n" in result.stdout
    assert f"\t{dist.loader} (loader, candidate $ORIGIN/{LOADER_REL})\n" in result.stdout


def test_an_unpatched_program_lists_the_system_loader_from_pt_interp(programs):
    result = invoke("ldd", programs["hello"])
    assert result.exit_code == 0
    assert "\t/lib/ld-musl-x86_64.so.1 (loader, PT_INTERP)" in result.stdout


def test_a_library_added_after_patching_is_found_by_the_bundled_loaders_rules(dist):
    provide_libraries(dist.lib)
    edit(DEBIAN_PATCHELF, "add-needed", dist.app)
    document = ldd_document(dist.app)
    found = {lib["name"]: lib["path"] for lib in document["files"][0]["libraries"]}
    assert found["libextra.so"] == f"{dist.root}/bin/../lib/libextra.so"


def test_a_missing_library_is_reported_not_found_with_exit_status_1(dist):
    (dist.lib / "libshared.so").unlink()
    result = invoke("ldd", dist.app)
    assert result.exit_code == 1
    assert "\tlibshared.so => not found\n" in result.stdout
    document = ldd_document(dist.app)
    assert document["files"][0]["missing"] == ["libshared.so"]
    assert f"{dist.root}/bin/../lib" in document["files"][0]["libraries"][0]["searched"]


def test_a_missing_bundled_loader_is_reported_with_exit_status_1(dist):
    dist.loader.unlink()
    result = invoke("ldd", dist.app)
    assert result.exit_code == 1
    assert f"candidate => not found (tried {dist.loader})" in result.stdout


def test_the_tree_view_puts_each_library_under_the_object_needing_it(dist):
    result = invoke("ldd", "-v", dist.app)
    assert result.stdout.splitlines()[1:] == [f"    libshared.so => {dist.root}/bin/../lib/libshared.so",
                                              f"        libc.so => {dist.loader} (the loader)",
                                              f"    libc.so => {dist.loader} (the loader)"]


def test_ldd_never_runs_the_program(dist, tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    monkeypatch.setenv("ANSWER_MARKER", str(marker))
    assert relinterp("ldd", dist.app).returncode == 0
    assert not marker.exists()
    assert run([dist.app]).returncode == 0  # the control: running it leaves the mark
    assert marker.exists()


def test_static_programs_and_bad_input_have_their_exit_statuses(programs, tmp_path):
    static = invoke("ldd", programs["static"])
    assert static.exit_code == 3 and "not a dynamic executable" in static.stderr
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    bad = invoke("ldd", text)
    assert bad.exit_code == 1 and bad.stderr == f"{text}: not an ELF file\n"
    assert ldd_document(programs["static"], text)["exit_code"] == 1
