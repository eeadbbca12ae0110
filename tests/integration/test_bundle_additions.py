"""Files a tree takes in besides its programs (relinterp.bundle.additions), as a traced run
or a bill of materials hands them to the planner: each lands where it is sent, bundled
like the rest, and the tree says how it came in."""

from __future__ import annotations

import json
import shutil
import stat

import pytest

from bundle_support import bundle_chain, compile_c
from conftest import PROGRAMS, run_hidden
from relinterp.bundle.additions import DATA, DIRECTORY, PROGRAM, SHARED_OBJECT, TRACE, Addition
from relinterp.bundle.assemble import build_bundle
from relinterp.bundle.plan import BundleOptions, plan_bundle
from relinterp.elf.linked import read_linked_object
from relinterp.errors import BundleError

pytestmark = pytest.mark.usefixtures("musl_gcc")


def options(project, *additions: Addition) -> BundleOptions:
    return BundleOptions(library_path=(str(project.build),), additions=additions)


@pytest.mark.usefixtures("namespace")
def test_each_addition_lands_where_it_is_sent_and_works_there(project, tmp_path):
    data = tmp_path / "greeting.txt"
    data.write_text("hello\n")
    extension = tmp_path / "libext.so"  # a module loaded by path: needs libbase.so
    shutil.copy(project["libmid.so"], extension)
    added = (Addition(str(project["libplugin.so"]), SHARED_OBJECT, TRACE),
             Addition(str(extension), SHARED_OBJECT, TRACE, "lib/extra/libext.so"),
             Addition(str(project["chain"]), PROGRAM, TRACE, "libexec/tool"),
             Addition(str(data), DATA, TRACE, "share/greeting.txt"))
    out = tmp_path / "dist"
    plan = plan_bundle([str(project["chain"])], str(out), options(project, *added))
    build_bundle(plan)
    found_by = {f.dest: f.found_by for f in plan.files}
    assert {found_by[p] for p in ("lib/libplugin.so", "lib/extra/libext.so", "libexec/tool",
                                  "share/greeting.txt")} == {TRACE}
    assert (found_by["bin/chain"], found_by["lib/libmid.so"]) == ("argument", "needed")
    assert (out / "share/greeting.txt").read_text() == "hello\n"
    assert read_linked_object(out / "lib/extra/libext.so").runpath == "$ORIGIN/.."  # libbase.so is in lib/
    assert run_hidden([out / "libexec/tool"]).stdout == "mid 42\n"  # patched where it was sent
    assert run_hidden([out / "bin/chain", "plugin"]).stdout == "plugin 84\n"  # found in LIB_DIR


def test_additions_that_cannot_be_placed_are_refused_with_the_rest(project, tmp_path):
    added = (Addition(str(project["libmid.so"]), PROGRAM, TRACE, "bin/mid"),
             Addition(str(project["chain"]), SHARED_OBJECT, TRACE, "lib/chain.so"),
             Addition(str(tmp_path / "gone"), DATA, TRACE, "share/gone"))
    with pytest.raises(BundleError) as refusal:
        plan_bundle([str(project["chain"])], str(tmp_path / "dist"), options(project, *added))
    assert [str(p) for p in refusal.value.problems] == [
        f"{tmp_path / 'gone'}: does not exist (trace)",
        f"{project['libmid.so']}: not an executable (ELF type ET_DYN, no PT_INTERP)",
        f"{project['chain']}: not a shared object (ELF type ET_DYN)"]
    assert not (tmp_path / "dist").exists()


def test_an_addition_sent_where_a_program_is_is_refused(project, tmp_path):
    added = Addition(str(project["libplugin.so"]), SHARED_OBJECT, TRACE, "bin/chain")
    with pytest.raises(BundleError) as refusal:
        plan_bundle([str(project["chain"])], str(tmp_path / "dist"), options(project, added))
    assert [str(p) for p in refusal.value.problems] == [
        f"{project['libplugin.so']}: another file is also placed at bin/chain"]


def test_include_still_says_how_its_library_came_in(project, tmp_path):
    result = bundle_chain(project, tmp_path / "dist", "--json")
    files = {f["path"]: f["found_by"] for f in json.loads(result.stdout)["files"]}
    assert files["lib/libplugin.so"] == "include"


def test_a_shared_object_is_taken_in_by_the_rules_of_the_program_that_loads_it(project, programs, tmp_path):
    """libext.so needs libpriv.so, which only the second program's RUNPATH finds."""
    private = tmp_path / "private"
    private.mkdir()
    compile_c(private / "libpriv.so", "-shared", "-fPIC", PROGRAMS / "base.c")
    compile_c(tmp_path / "libext.so", "-shared", "-fPIC", PROGRAMS / "mid.c", f"-L{private}", "-lpriv")
    loader = compile_c(tmp_path / "loader", PROGRAMS / "hello.c", f"-Wl,-rpath,{private}")
    apps = [str(project["chain"]), str(loader)]
    by_first = Addition(str(tmp_path / "libext.so"), SHARED_OBJECT, TRACE)
    with pytest.raises(BundleError) as refusal:
        plan_bundle(apps, str(tmp_path / "dist"), options(project, by_first))
    assert [p.reason.split(";")[0] for p in refusal.value.problems] == [
        f"libpriv.so not found (needed by {tmp_path / 'libext.so'}"]
    by_second = Addition(str(tmp_path / "libext.so"), SHARED_OBJECT, TRACE, loaded_by=str(loader))
    plan = plan_bundle(apps, str(tmp_path / "dist"), options(project, by_second))
    assert {f.dest: f.source for f in plan.files}["lib/libpriv.so"] == str(private / "libpriv.so")


def test_a_directory_addition_is_made_with_its_mode(project, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o750)
    out = tmp_path / "dist"
    build_bundle(plan_bundle([str(project["chain"])], str(out),
                             options(project, Addition(str(cache), DIRECTORY, TRACE, "var/cache/app"))))
    assert out.joinpath("var/cache/app").is_dir()
    assert stat.S_IMODE(out.joinpath("var/cache/app").stat().st_mode) == 0o750
