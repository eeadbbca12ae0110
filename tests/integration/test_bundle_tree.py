"""`relinterp bundle STAGE -o DIR`: a release tree that mirrors an install prefix (paths,
modes, links), with every program patched where it is and every ELF file finding its
libraries in the tree; refused whole, by name, when a file cannot be mirrored."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path

import pytest

from bundle_support import TREE_LOADER, bundle, compile_c, tree_files
from conftest import MUSL_LOADER, PROGRAMS, relinterp, run, run_hidden, sha256
from discovery_support import NOBODY
from glibc_bundle_support import chain_program
from relinterp.bundle.record import RECORD
from relinterp.elf.linked import read_linked_object
from report_support import valid_document

pytestmark = pytest.mark.usefixtures("musl_gcc")
# What the stage holds besides its ELF files: (path, mode) of directories and data.
DATA_FILES = {"share/app/data.txt": 0o640, "share/app/run.sh": 0o750}
DIRECTORIES = {"var/lib/app": 0o700}


@pytest.fixture
def stage(project, tmp_path) -> Path:
    """An install prefix as `make install DESTDIR=...` leaves it (no RUNPATH anywhere):
        bin/chain                    needs libmid.so
        libexec/app/helper           the same program, in a deeper directory
        lib/libmid.so, lib/libbase.so, lib/libmid.so.1 -> libmid.so
        lib/app/plugins/libplugin.so needs libbase.so (from lib/)
        share/app/data.txt, share/app/run.sh, share/app/lib -> ../../lib, var/lib/app/ (empty)"""
    root = tmp_path / "stage"
    for directory in ("bin", "libexec/app", "lib/app/plugins", "share/app"):
        (root / directory).mkdir(parents=True)
    for name in ("libmid.so", "libbase.so"):
        shutil.copy(project[name], root / "lib" / name)
    compile_c(root / "lib/app/plugins/libplugin.so", "-shared", "-fPIC", PROGRAMS / "plugin.c",
              f"-L{project.build}", "-lbase")
    shutil.copy(project["chain"], root / "bin/chain")
    shutil.copy(project["chain"], root / "libexec/app/helper")
    (root / "lib/libmid.so.1").symlink_to("libmid.so")
    (root / "share/app/lib").symlink_to("../../lib")
    for path, mode in DATA_FILES.items():
        (root / path).write_text(f"{path}\n")
        (root / path).chmod(mode)
    for path, mode in DIRECTORIES.items():
        (root / path).mkdir(parents=True)
        (root / path).chmod(mode)
    return root


def made(stage: Path, out: Path, *args, **kwargs):
    result = bundle(stage, "-o", out, *args, **kwargs)
    assert result.returncode == 0, result.stderr
    return result


def moved(out: Path, tmp_path: Path) -> Path:
    there = tmp_path / "elsewhere" / "app-1.0"
    there.parent.mkdir()
    os.rename(out, there)
    return there


# ---------------------------------------------------------------- the mirror

@pytest.mark.usefixtures("namespace")
def test_the_tree_runs_from_another_directory_with_the_system_loader_hidden(stage, tmp_path):
    made(stage, tmp_path / "dist")
    tree = moved(tmp_path / "dist", tmp_path)
    for program in ("bin/chain", "libexec/app/helper"):
        assert run_hidden([tree / program]).stdout == "mid 42\n", program
    assert run_hidden([stage / "bin/chain"]).returncode == 127  # control: the stage itself cannot start there


def test_every_path_mode_and_link_of_the_stage_is_in_the_tree(stage, tmp_path):
    out = tmp_path / "dist"
    made(stage, out)
    ours = {RECORD, "lib/ld-musl-x86_64.so.1", "sbom.cdx.json"}
    assert set(tree_files(out)) - ours == set(tree_files(stage))
    for path, mode in {**DATA_FILES, **DIRECTORIES}.items():
        assert stat.S_IMODE(os.lstat(out / path).st_mode) == mode, path
        assert stat.S_IMODE(os.lstat(stage / path).st_mode) == mode  # the stage is untouched
    assert os.readlink(out / "lib/libmid.so.1") == "libmid.so"
    assert os.readlink(out / "share/app/lib") == "../../lib"
    for data in DATA_FILES:
        assert sha256(out / data) == sha256(stage / data)


def test_every_program_is_patched_to_the_loader_by_its_own_relative_path(stage, tmp_path):
    out = tmp_path / "dist"
    made(stage, out)
    for program, loader in (("bin/chain", "../lib"), ("libexec/app/helper", "../../lib")):
        obj = read_linked_object(out / program)
        assert obj.patched and obj.model.patch.config.candidates == (f"{loader}/ld-musl-x86_64.so.1",)
        assert obj.runpath == f"$ORIGIN/{loader}", program


def test_libraries_in_any_directory_get_the_search_path_their_needs_land_in(stage, tmp_path):
    out = tmp_path / "dist"
    made(stage, out)
    assert read_linked_object(out / "lib/app/plugins/libplugin.so").runpath == "$ORIGIN/../.."
    assert read_linked_object(out / "lib/libmid.so").runpath == "$ORIGIN"
    assert sha256(out / "lib/libbase.so") == sha256(stage / "lib/libbase.so")  # needs only libc: untouched
    assert sha256(out / TREE_LOADER) == sha256(MUSL_LOADER)


def test_a_library_from_outside_the_stage_goes_to_lib_dir_with_the_loader(stage, project, tmp_path):
    (stage / "lib/libbase.so").unlink()
    out = tmp_path / "dist"
    result = made(stage, out, "--lib-dir", "lib/app/private", "--library-path", project.build, "-v")
    assert f"{out}/lib/app/private/libbase.so <- {project['libbase.so']}" in result.stdout.splitlines()
    assert read_linked_object(out / "lib/libmid.so").runpath == "$ORIGIN/app/private"
    assert read_linked_object(out / "bin/chain").model.patch.config.candidates == \
        ("../lib/app/private/ld-musl-x86_64.so.1",)


def test_split_debugging_information_is_data_to_bundle_and_to_verify(stage, tmp_path):
    debug = stage / "lib/debug/bin/chain.debug"
    debug.parent.mkdir(parents=True)
    assert run(["objcopy", "--only-keep-debug", stage / "bin/chain", debug]).returncode == 0
    out = tmp_path / "dist"
    result = made(stage, out, "-v")
    assert f"{out}/lib/debug/bin/chain.debug <- {debug}" in result.stdout.splitlines()
    assert sha256(out / "lib/debug/bin/chain.debug") == sha256(debug)
    verified = relinterp("verify", out)
    assert verified.returncode == 0, verified.stdout


def test_verify_checks_a_mirror_against_its_sbom_through_chains_of_links(stage, tmp_path):
    (stage / "lib/libmid.so.1.0").symlink_to("libmid.so.1")  # -> libmid.so.1 -> libmid.so
    out = tmp_path / "dist"
    made(stage, out)
    verified = relinterp("verify", out)
    assert verified.returncode == 0, verified.stdout
    sbom = json.loads((out / "sbom.cdx.json").read_text())
    mid = next(c for c in sbom["components"] if c["name"] == "lib/libmid.so")
    assert [o["location"] for o in mid["evidence"]["occurrences"]] == ["lib/libmid.so", "lib/libmid.so.1",
                                                                       "lib/libmid.so.1.0"]
    data = next(c for c in sbom["components"] if c["name"] == "share/app/data.txt")
    assert (data["type"], [p["value"] for p in data["properties"] if p["name"] == "relinterp:came-in"]) == \
        ("file", ["stage"])


def test_an_absolute_link_into_the_stage_becomes_a_relative_one(stage, tmp_path):
    (stage / "bin/helper").symlink_to(stage / "libexec/app/helper")
    out = tmp_path / "dist"
    made(stage, out)
    assert os.readlink(out / "bin/helper") == "../libexec/app/helper"


# ---------------------------------------------------------------- refusals: one line each, nothing written

def refused(stage: Path, out: Path, *args) -> list[str]:
    result = bundle(stage, "-o", out, *args)
    assert result.returncode == 1, result.stdout
    assert not out.exists()
    lines = result.stderr.splitlines()
    assert lines[-1].startswith(f"{out}: nothing written (")
    return lines[:-1]


def test_a_link_leaving_the_stage_is_refused_by_name_unless_its_file_is_copied(stage, project, tmp_path):
    (stage / "lib/libextra.so").symlink_to(project["libplugin.so"])
    assert refused(stage, tmp_path / "dist") == [
        f"{stage}/lib/libextra.so: a symbolic link to {project['libplugin.so']}, outside the tree: it would "
        "name a file of the machine the tree lands on (--copy-outside-links copies the file)"]
    out = tmp_path / "dist"
    made(stage, out, "--copy-outside-links")
    assert not (out / "lib/libextra.so").is_symlink()
    assert sha256(out / "lib/libextra.so") == sha256(project["libplugin.so"])


def test_a_copied_link_to_a_directory_and_a_fifo_are_refused(stage, tmp_path):
    (stage / "share/doc").symlink_to("/usr/share/doc")
    os.mkfifo(stage / "var/lib/app/socket")
    assert sorted(refused(stage, tmp_path / "dist", "--copy-outside-links")) == [
        f"{stage}/share/doc: a symbolic link to /usr/share/doc, outside the tree, names a directory: "
        "--copy-outside-links copies files only",
        f"{stage}/var/lib/app/socket: a FIFO: a tree holds files, directories and symbolic links only"]


def test_the_tree_is_made_beside_the_stage_never_in_it(stage, tmp_path):
    before = tree_files(stage)
    assert refused(stage, stage / "dist") == [
        f"{stage}/dist: lies inside STAGE {stage}: the tree would hold itself"]
    result = bundle(stage, "-o", stage)
    assert result.returncode == 1 and f"{stage}: is STAGE itself" in result.stderr
    assert tree_files(stage) == before


def test_a_setuid_program_is_refused(stage, tmp_path):
    (stage / "bin/chain").chmod(0o4755)
    assert refused(stage, tmp_path / "dist") == [
        f"{stage}/bin/chain: setuid or setgid: the kernel starts it in secure mode, where it finds no loader "
        "relative to itself; ship it without those bits"]


def test_a_prefix_without_a_program_and_shared_objects_without_a_loader_are_refused(stage, programs, tmp_path):
    for program in ("bin/chain", "libexec/app/helper"):
        (stage / program).unlink()
    assert refused(stage, tmp_path / "dist") == [
        f"{stage}: no program in this install prefix: nothing to make relocatable"]
    shutil.copy(programs["static"], stage / "bin/static")
    assert refused(stage, tmp_path / "dist") == [
        f"{stage}: shared objects but no dynamically linked program: the loader to ship, and its rules, come "
        "from the programs"]


def test_a_directory_among_programs_is_a_usage_error(stage, project, tmp_path):
    result = bundle(project["chain"], stage, "-o", tmp_path / "dist")
    assert result.returncode == 2
    assert f"{stage}: a directory among programs: give one install prefix (STAGE), or programs only" in result.stderr


# ---------------------------------------------------------------- bundling again

def test_a_tree_bundle_made_is_replaced_and_one_with_a_stranger_file_is_not(stage, tmp_path):
    out = tmp_path / "dist"
    made(stage, out)
    (stage / "share/app/data.txt").write_text("new\n")
    again = made(stage, out)
    assert again.stdout.splitlines()[-1].endswith("(replaced the earlier tree)")
    assert (out / "share/app/data.txt").read_text() == "new\n"
    (out / "share/app/notes.txt").write_text("mine\n")
    before = tree_files(out)
    result = bundle(stage, "-o", out)
    assert result.returncode == 1
    assert f"{out}: holds files bundle did not make (share/app/notes.txt): not replacing it; remove them or " \
           "choose another directory" in result.stderr
    assert tree_files(out) == before


def test_a_record_that_cannot_be_read_protects_the_tree(stage, tmp_path):
    out = tmp_path / "dist"
    made(stage, out)
    (out / RECORD).write_text("{not json")
    result = bundle(stage, "-o", out)
    assert result.returncode == 1
    assert f"{out}: its record {RECORD} cannot be read (not JSON): not replacing it" in result.stderr


def test_the_record_lists_every_path_of_the_tree(stage, tmp_path):
    out = tmp_path / "dist"
    made(stage, out)
    record = json.loads((out / RECORD).read_text())
    assert record == {"relinterp_bundle_record": 1, "paths": sorted(set(tree_files(out)) - {RECORD})}


# ---------------------------------------------------------------- for CI: dry run, JSON, archive

def test_dry_run_lists_the_tree_and_writes_nothing(stage, tmp_path):
    out = tmp_path / "dist"
    result = made(stage, out, "-n")
    lines = result.stdout.splitlines()
    assert f"{out}/share/app/data.txt <- {stage}/share/app/data.txt" in lines
    assert f"{out}/share/app/lib -> ../../lib" in lines
    assert f"{out}/libexec/app/helper <- {stage}/libexec/app/helper (RUNPATH $ORIGIN/../../lib; patched, " \
           "loader $ORIGIN/../../lib/ld-musl-x86_64.so.1)" in lines
    assert lines[-1] == f"{out}: mirrors {stage}: 2 programs, 3 libraries, 2 other files and the loader " \
                        "(would be a new tree; nothing written (--dry-run))"
    assert not out.exists()


def test_the_json_document_says_what_each_file_is_and_how_it_came_in(stage, tmp_path):
    out = tmp_path / "dist"
    document = valid_document(made(stage, out, "--json").stdout, "bundle")
    assert document["stage"] == str(stage)
    files = {f["path"]: f for f in document["files"]}
    assert (files["share/app/data.txt"]["role"], files["share/app/data.txt"]["found_by"]) == ("data", "stage")
    assert (files["var/lib/app"]["role"], files["var/lib/app"]["source"]) == ("directory", None)
    assert files[TREE_LOADER]["found_by"] == "interpreter"
    assert files["libexec/app/helper"]["loader"] == "../../lib/ld-musl-x86_64.so.1"


def test_the_archive_of_a_tree_holds_every_entry(stage, tmp_path):
    out = tmp_path / "dist"
    made(stage, out, "--tar", tmp_path / "dist.tar.gz")
    with tarfile.open(tmp_path / "dist.tar.gz") as tar:
        names = {name.removeprefix("dist/") for name in tar.getnames()} - {"dist"}
        assert tar.getmember("dist/share/app/lib").linkname == "../../lib"
    assert names == set(tree_files(out))


def test_a_read_only_directory_is_mirrored_and_its_tree_replaced_by_an_unprivileged_user(stage, installed_wheel):
    """Without root, a directory without write permission blocks removing what is in it:
    bundle must still replace (and, on failure, clean up) a tree holding one."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root to become another user (setpriv)")
    shared = Path(tempfile.mkdtemp(prefix="relinterp-unprivileged."))
    try:
        shutil.copytree(stage, shared / "stage", symlinks=True)
        (shared / "stage/share/app").chmod(0o555)
        for path in (shared, *(shared / "stage").rglob("*")):
            os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
        as_user = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                   installed_wheel.relinterp, "bundle", shared / "stage", "-o", shared / "dist"]
        for attempt in ("new", "replacing"):
            result = run(as_user, text=True, cwd="/")
            assert result.returncode == 0, result.stderr
        assert stat.S_IMODE(os.stat(shared / "dist/share/app").st_mode) == 0o555
        assert sorted(p.name for p in shared.iterdir()) == ["dist", "stage"]  # no staging left behind
    finally:
        shutil.rmtree(shared)  # as root: the modes do not stop it


def test_a_glibc_prefix_changes_only_the_files_the_rpath_chain_does_not_serve(chain_libs, tmp_path):
    """glibc passes the programs' DT_RPATH (which names LIB_DIR) along to what they load:
    a library in LIB_DIR needing LIB_DIR is left as it is; a plugin elsewhere is not."""
    stage = tmp_path / "stage"
    (stage / "lib/app").mkdir(parents=True)
    (stage / "bin").mkdir()
    chain_program(stage / "bin/chain", chain_libs.build)
    for name in ("libmid.so", "libbase.so"):
        shutil.copy(chain_libs[name], stage / "lib" / name)
    shutil.copy(chain_libs["libmid.so"], stage / "lib/app/libplug.so")  # needs libbase.so, in lib/
    out = tmp_path / "dist"
    made(stage, out)
    assert sha256(out / "lib/libmid.so") == sha256(stage / "lib/libmid.so")
    assert read_linked_object(out / "lib/app/libplug.so").runpath == "$ORIGIN/.."
    assert read_linked_object(out / "bin/chain").rpath == "$ORIGIN/../lib"
    verified = relinterp("verify", out, "--run", "")
    assert verified.returncode == 0, verified.stdout
    assert "  | mid 42" in verified.stdout.splitlines()
