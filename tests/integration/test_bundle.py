"""`relinterp bundle`: a tree that runs anywhere, whose closure is the one musl's own
loader computes, built whole or not at all."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from bundle_support import (TREE_LOADER, bundle, bundle_chain, closure_listing, compile_c, copy_loader_to,
                            musl_listing, tree_files)
from conftest import MUSL_LOADER, PROGRAMS, relinterp, run, run_hidden, sha256
from relinterp.bundle.plan import BundleOptions, plan_bundle
from relinterp.bundle.record import RECORD
from relinterp.loaders.closure import resolve_closure
from relinterp.elf.linked import read_linked_object
from relinterp.loaders.musl import MuslRules

pytestmark = pytest.mark.usefixtures("musl_gcc")


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


@pytest.mark.usefixtures("namespace")
def test_bundled_tree_runs_from_another_directory_with_the_system_loader_hidden(project, tmp_path):
    bundle_chain(project, tmp_path / "dist")
    moved = tmp_path / "elsewhere" / "app-1.0"
    moved.parent.mkdir()
    os.rename(tmp_path / "dist", moved)
    assert run_hidden([moved / "bin/chain"]).stdout == "mid 42\n"
    assert run_hidden([moved / "bin/chain", "plugin"]).stdout == "plugin 84\n"
    assert run_hidden([project["chain"]]).returncode == 127  # control: the build itself cannot start there


def test_plan_names_the_loader_family_and_each_programs_closure(project, tmp_path):
    plan = plan_bundle([str(project["chain"])], str(tmp_path / "dist"),
                       BundleOptions(library_path=(str(project.build),)))
    assert plan.family == "musl"
    assert plan.musl_version is not None and plan.musl_version >= (1, 2, 0)
    assert list(plan.closures) == [str(project["chain"])]
    assert sorted(plan.closures[str(project["chain"])].libraries()) == ["libbase.so", "libmid.so"]  # libc.so: the loader itself
    assert not (tmp_path / "dist").exists()  # planning writes nothing


# ---------------------------------------------------------------- the closure, against musl's own listing

def _library_path(project, tmp_path):
    return project["chain"], MuslRules("/lib/ld-musl-x86_64.so.1", library_path=[str(project.build)]), \
        {"LD_LIBRARY_PATH": str(project.build)}, "/lib/ld-musl-x86_64.so.1"


def _program_runpath(project, tmp_path):
    """libmid.so has no RUNPATH: libbase.so is found through the program's (needed-by chain)."""
    program = compile_c(tmp_path / "chain", PROGRAMS / "chain.c", f"-L{project.build}", "-lmid",
                        f"-Wl,-rpath,{project.build}")
    return program, MuslRules("/lib/ld-musl-x86_64.so.1"), {}, "/lib/ld-musl-x86_64.so.1"


def _environment_first(project, tmp_path):
    """LD_LIBRARY_PATH is searched before the program's RUNPATH."""
    program, rules, _, loader = _program_runpath(project, tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    for lib in ("libmid.so", "libbase.so"):
        shutil.copy2(project[lib], other / lib)
    return program, MuslRules(loader, library_path=[str(other)]), {"LD_LIBRARY_PATH": str(other)}, loader


def _library_origin(project, tmp_path):
    """A library's own $ORIGIN entry is relative to where the library was found."""
    (tmp_path / "deps").mkdir()
    shutil.copy2(project["libbase.so"], tmp_path / "deps" / "libbase.so")
    compile_c(tmp_path / "libmid.so", "-shared", "-fPIC", PROGRAMS / "mid.c", f"-L{tmp_path}/deps", "-lbase",
              "-Wl,-rpath,$ORIGIN/deps")
    program = compile_c(tmp_path / "chain", PROGRAMS / "chain.c", f"-L{tmp_path}", "-lmid",
                        f"-Wl,-rpath-link,{tmp_path}/deps", "-Wl,--enable-new-dtags,-rpath,$ORIGIN")
    return program, MuslRules("/lib/ld-musl-x86_64.so.1"), {}, "/lib/ld-musl-x86_64.so.1"


def _path_file(project, tmp_path):
    """Last, the directories of PREFIX/etc/ld-musl-x86_64.path (PREFIX: the loader's name,
    here the program's PT_INTERP, without its last two components), separated by newlines
    or ':'."""
    loader = copy_loader_to(tmp_path / "sysroot")
    program = compile_c(tmp_path / "chain", PROGRAMS / "chain.c", f"-L{project.build}", "-lmid",
                        f"-Wl,-rpath-link,{project.build}", f"-Wl,--dynamic-linker,{loader}")
    (tmp_path / "sysroot/etc").mkdir()
    for name, lib in (("first", "libmid.so"), ("second", "libbase.so")):
        (tmp_path / name).mkdir()
        shutil.copy2(project[lib], tmp_path / name / lib)
    (tmp_path / "sysroot/etc/ld-musl-x86_64.path").write_text(f"{tmp_path}/first\n{tmp_path}/second:/nowhere\n")
    return program, MuslRules(str(loader), loader=str(loader)), {}, str(loader)


@pytest.mark.parametrize("scenario", [_library_path, _program_runpath, _environment_first, _library_origin,
                                      _path_file])
def test_closure_matches_the_musl_loaders_own_listing(project, tmp_path, scenario):
    program, rules, env, loader = scenario(project, tmp_path)
    expected = musl_listing(program, loader=loader, env=env)
    assert "libbase.so" in expected and "libc.so" in expected  # the scenario is what it says
    assert closure_listing(resolve_closure(str(program), rules), loader) == expected


def test_closure_reports_what_musl_cannot_find(project, tmp_path):
    listing = run([MUSL_LOADER, "--list", project["chain"]], text=True)
    assert "Error loading shared library libmid.so" in listing.stderr  # musl agrees it is missing
    closure = resolve_closure(str(project["chain"]), MuslRules("/lib/ld-musl-x86_64.so.1"))
    assert [(r.name, r.needed_by) for r in closure.missing] == [("libmid.so", str(project["chain"]))]
    assert closure.missing[0].searched == ("/lib/x86_64-linux-musl", "/usr/lib/x86_64-linux-musl")


# ---------------------------------------------------------------- refusals: all at once, nothing written

def test_missing_libraries_are_reported_all_at_once_and_nothing_is_written(project, tmp_path):
    out = tmp_path / "dist"
    result = bundle(project["chain"], "-o", out, "--include", "libnowhere.so")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{project['chain']}: libmid.so not found (needed by {project['chain']}; searched ")
    assert lines[1].startswith(f"{project['chain']}: --include libnowhere.so not found (for dlopen; searched ")
    assert lines[2] == f"{out}: nothing written (2 problems)"
    assert not out.exists() and leftovers(tmp_path) == []


def test_dt_relr_is_refused_for_a_loader_older_than_musl_1_2_4(project, tmp_path):
    relr = compile_c(tmp_path / "libbase.so", "-shared", "-fPIC", "-Wl,-z,pack-relative-relocs",
                     PROGRAMS / "base.c")
    assert read_linked_object(relr).relr
    shutil.copy2(project["libmid.so"], tmp_path / "libmid.so")
    result = bundle(project["chain"], "-o", tmp_path / "dist", "--library-path", tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (f"{relr}: uses DT_RELR relocations, which need musl >= 1.2.4; the "
                                             f"loader {os.path.realpath(MUSL_LOADER)} is musl 1.2.3")
    assert not (tmp_path / "dist").exists()
    crashed = run([project["chain"]], env={"LD_LIBRARY_PATH": str(tmp_path)})
    assert crashed.returncode < 0  # what the refusal spares: musl 1.2.3 crashes on it


def test_a_program_for_an_unknown_loader_is_refused(tmp_path):
    other = tmp_path / "hello-other"
    assert run(["gcc", "-o", other, PROGRAMS / "hello.c", "-Wl,--dynamic-linker,/opt/rt/ld-custom.so"]).returncode == 0
    result = bundle(other, "-o", tmp_path / "dist")
    assert result.returncode == 1
    assert result.stderr.startswith(f"{other}: not a musl or glibc program (PT_INTERP /opt/rt/ld-custom.so)")
    assert not (tmp_path / "dist").exists()


def test_one_name_for_two_different_files_is_refused(project, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    for lib in ("libmid.so", "libbase.so"):
        shutil.copy2(project[lib], other / lib)
    apps = []
    for name, directory in (("one", project.build), ("two", other)):
        apps.append(tmp_path / name)
        shutil.copy2(project["chain"], apps[-1])
        assert run(["patchelf", "--set-rpath", directory, apps[-1]]).returncode == 0
    result = bundle(*apps, "-o", tmp_path / "dist")
    assert result.returncode == 1
    assert result.stderr.startswith(f"lib/libmid.so: two different files for one name: {project['libmid.so']} "
                                    f"and {other}/libmid.so")


def test_a_directory_holding_other_files_is_not_replaced(project, tmp_path):
    out = tmp_path / "dist"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = bundle(project["chain"], "-o", out, "--library-path", project.build)
    assert result.returncode == 1
    assert f"{out}: exists and holds more than a bundle (notes.txt): not replacing it" in result.stderr
    assert tree_files(out) == {"notes.txt": sha256(out / "notes.txt")}


# ---------------------------------------------------------------- the tree's contents

def test_rerun_replaces_the_earlier_tree_in_one_step(project, tmp_path):
    out = tmp_path / "dist"
    bundle_chain(project, out)
    assert (out / "lib/libplugin.so").exists()
    again = bundle(project["chain"], "-o", out, "--library-path", project.build)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1].endswith("(replaced the earlier tree)")
    assert sorted(tree_files(out)) == [RECORD, "bin", "bin/chain", "lib", "lib/ld-musl-x86_64.so.1",
                                       "lib/libbase.so", "lib/libmid.so", "sbom.cdx.json"]
    assert leftovers(tmp_path) == []


def test_libraries_and_loader_are_copied_unchanged_and_only_the_program_gets_a_runpath(project, tmp_path):
    out = tmp_path / "dist"
    bundle_chain(project, out)
    for lib in ("libmid.so", "libbase.so", "libplugin.so"):
        assert sha256(out / "lib" / lib) == sha256(project[lib])
    assert sha256(out / TREE_LOADER) == sha256(MUSL_LOADER)
    assert not (out / "lib/libc.so").exists()  # musl's loader is its libc: one file
    assert read_linked_object(out / "bin/chain").runpath == "$ORIGIN/../lib"


def test_a_program_whose_runpath_already_fits_is_only_patched(programs, tmp_path):
    out = tmp_path / "dist"
    result = bundle(programs["probe"], "-o", out, "--library-path", programs.dir,
                    "--include", "libplugin.so")
    assert result.returncode == 0, result.stderr
    original = tmp_path / "original"
    restored = relinterp("restore", out / "bin/probe", "-o", original)
    assert restored.returncode == 0
    assert "as before patching: SHA-256 verified" in restored.stdout  # bundle recorded the digest
    assert sha256(original) == sha256(programs["probe"])  # the patch is the only change


@pytest.mark.usefixtures("namespace")
def test_libc_of_a_bundled_program_is_the_bundled_loader(programs, tmp_path):
    out = tmp_path / "dist"
    assert bundle(programs["probe"], "-o", out, "--library-path", programs.dir).returncode == 0
    shown = run_hidden([out / "bin/probe", "interp"]).stdout.splitlines()
    assert shown[1:] == [f"interp {out / TREE_LOADER}", f"libc {out / TREE_LOADER}"]


def test_a_search_list_leaving_the_tree_is_removed(project, tmp_path):
    lib = tmp_path / "libbase.so"
    shutil.copy2(project["libbase.so"], lib)
    assert run(["patchelf", "--set-rpath", "/usr/lib/somewhere:$ORIGIN", lib]).returncode == 0
    shutil.copy2(project["libmid.so"], tmp_path / "libmid.so")
    out = tmp_path / "dist"
    assert bundle(project["chain"], "-o", out, "--library-path", tmp_path).returncode == 0
    assert read_linked_object(out / "lib/libbase.so").search_path == "$ORIGIN"


@pytest.mark.usefixtures("namespace")
def test_several_programs_share_one_lib_dir(project, programs, tmp_path):
    out = tmp_path / "dist"
    result = bundle(project["chain"], programs["probe"], "-o", out, "--library-path",
                    f"{project.build}:{programs.dir}", "--include", "libplugin.so")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (out / "lib").iterdir()) == [
        "ld-musl-x86_64.so.1", "libbase.so", "libmid.so", "libplugin.so", "libshared.so"]
    assert run_hidden([out / "bin/chain", "plugin"]).stdout == "plugin 84\n"
    assert run_hidden([out / "bin/probe", "plugin"]).stdout == "plugin 42 from libplugin.so\n"


def test_a_library_reached_under_a_second_name_is_a_link(project, tmp_path):
    (tmp_path / "libbase.so.1").symlink_to(project["libbase.so"])
    out = tmp_path / "dist"
    bundle_chain(project, out, "--include", tmp_path / "libbase.so.1")
    assert os.readlink(out / "lib/libbase.so.1") == "libbase.so"
    assert not (out / "lib/libbase.so").is_symlink()


@pytest.mark.usefixtures("namespace")
def test_a_patched_program_is_bundled_from_its_original(project, tmp_path):
    patched = tmp_path / "chain"
    shutil.copy2(project["chain"], patched)
    assert relinterp("patch", patched, "--loader-rel", "elsewhere/ld.so").returncode == 0
    out = tmp_path / "dist"
    assert bundle(patched, "-o", out, "--library-path", project.build).returncode == 0
    assert run_hidden([out / "bin/chain"]).stdout == "mid 42\n"


@pytest.mark.usefixtures("namespace")
def test_other_directories_and_a_given_loader(project, tmp_path):
    loader = copy_loader_to(tmp_path / "musl")
    out = tmp_path / "dist"
    bundle_chain(project, out, "--bin-dir", "usr/bin", "--lib-dir", "usr/lib/greeter", "--loader", loader)
    assert read_linked_object(out / "usr/bin/chain").runpath == "$ORIGIN/../lib/greeter"
    assert sha256(out / "usr/lib/greeter/ld-musl-x86_64.so.1") == sha256(loader)
    assert run_hidden([out / "usr/bin/chain", "plugin"]).stdout == "plugin 84\n"


def test_a_loader_that_is_not_musls_is_refused(project, tmp_path):
    result = bundle(project["chain"], "-o", tmp_path / "dist", "--library-path", project.build,
                    "--loader", project["libbase.so"])
    assert result.returncode == 1
    assert result.stderr.startswith(f"{project['libbase.so']}: not a musl loader for EM_X86_64 (64-bit)")


def test_a_static_program_is_copied_as_it_is(programs, tmp_path):
    out = tmp_path / "dist"
    assert bundle(programs["static"], "-o", out).returncode == 0
    assert sha256(out / "bin/static") == sha256(programs["static"])
    assert sorted(tree_files(out)) == [RECORD, "bin", "bin/static", "sbom.cdx.json"]


# ---------------------------------------------------------------- the archive

def test_tarball_is_byte_identical_across_runs(project, tmp_path):
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}
    out = tmp_path / "app-1.0"
    bundle_chain(project, out, "--tar", tmp_path / "first.tar.gz", env=env)
    os.utime(out / "bin/chain", (1, 1))  # the tree's own times must not leak in
    bundle_chain(project, out, "--tar", tmp_path / "second.tar.gz", env=env)
    first, second = (tmp_path / "first.tar.gz").read_bytes(), (tmp_path / "second.tar.gz").read_bytes()
    assert first == second
    assert first[4:8] == b"\0\0\0\0"  # gzip header mtime
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(first))) as tar:
        members = tar.getmembers()
        tar.extractall(tmp_path / "extracted")
    names = [m.name for m in members]
    assert names == sorted(names) and names[0] == "app-1.0"
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", 1700000000)}
    assert tree_files(tmp_path / "extracted/app-1.0") == tree_files(out)


DEBIAN_MUSL_LIBC = "/usr/lib/x86_64-linux-musl/libc.so"  # Debian's musl loader, by its real file


@pytest.mark.usefixtures("namespace")
def test_a_program_naming_musls_loader_by_its_libc_file_is_musl_to_inspect_and_bundle(tmp_path):
    if not os.path.exists(DEBIAN_MUSL_LIBC):
        pytest.skip(f"{DEBIAN_MUSL_LIBC}: not on this machine")
    program = compile_c(tmp_path / "hello", PROGRAMS / "hello.c", f"-Wl,--dynamic-linker={DEBIAN_MUSL_LIBC}")
    assert "libc: musl" in relinterp("inspect", program).stdout
    result = bundle(program, "-o", tmp_path / "dist")
    assert result.returncode == 0, result.stderr
    assert sha256(tmp_path / "dist/lib/libc.so") == sha256(Path(DEBIAN_MUSL_LIBC))  # the loader, shipped
    assert run_hidden([tmp_path / "dist/bin/hello"]).stdout.startswith("hello")
    assert run_hidden([program]).returncode == 127  # control: the build cannot start with the loader hidden
