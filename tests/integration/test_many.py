"""Many inputs at once: named files, trees (-r), in parallel (-j); one bad file does not
stop the others, the exit status says whether any failed, a summary line ends the run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import relinterp
from conftest import LOADER_REL, MUSL_LOADER, relinterp as relinterp_cli, run_hidden, sha256
from relinterp.errors import EXIT_FAILED, EXIT_NOTHING_TO_DO, EXIT_OK, EXIT_USAGE
from report_support import invoke, json_run


def patched(path: Path) -> bool:
    return relinterp.inspect(path).patch is not None


TOOL_WARNING = ("{tree}/libexec/tools/tool: warning: loader $ORIGIN/../lib/ld-musl.so ({tree}/libexec/lib/ld-musl.so) "
                "does not exist yet: put the loader there before the program runs\n")


@pytest.fixture
def tree(programs, tmp_path) -> Path:
    return build_tree(programs, tmp_path / "dist")


def build_tree(programs, root: Path) -> Path:
    """A release tree as CI meets it: programs, and much that is not a program (and one
    program, libexec/tools/tool, whose ../lib/ld-musl.so is not there: patch warns of it)."""
    for d in ("bin", "lib", "libexec/tools", "share"):
        (root / d).mkdir(parents=True)
    shutil.copy2(programs["probe"], root / "bin" / "app")
    shutil.copy2(programs["probe-nopie"], root / "libexec" / "tools" / "tool")
    shutil.copy2(programs["hello"], root / "bin" / "hello")
    os.link(root / "bin" / "hello", root / "libexec" / "hello-again")  # one file, two names
    (root / "bin" / "app-link").symlink_to("app")
    (root / "share" / "bin").symlink_to("../bin")  # a directory symlink: not followed
    (root / "bin" / "run.sh").write_text("#!/bin/sh\nexec \"$0\"\n")
    shutil.copy2(programs["static"], root / "bin" / "static")
    shutil.copy2(programs["libshared.so"], root / "lib" / "libshared.so")
    shutil.copy2(MUSL_LOADER, root / "lib" / "ld-musl.so")
    shutil.copy2(programs["object.o"], root / "lib" / "object.o")
    (root / "share" / "empty").write_bytes(b"")
    os.mkfifo(root / "share" / "fifo")
    return root


SKIPPED = {
    "bin/app-link": "symbolic link, not followed",
    "bin/run.sh": "not an ELF file",
    "bin/static": "static executable, nothing to patch",
    "lib/ld-musl.so": "shared library (no PT_INTERP), not an executable",
    "lib/libshared.so": "shared library (no PT_INTERP), not an executable",
    "lib/object.o": "not an executable (ELF type ET_REL)",
    "share/bin": "symbolic link, not followed",
    "share/empty": "not an ELF file",
    "share/fifo": "not a regular file",
}


def test_recursive_patch_patches_the_executables_and_lists_what_it_skipped(tree):
    result = invoke("patch", "-r", tree, "--loader-rel", "../lib/ld-musl.so", "-v", "-j", "2")
    assert result.exit_code == EXIT_OK, result.stderr
    lines = result.stdout.splitlines()
    for name, reason in SKIPPED.items():
        assert f"{tree / name}: skipped, {reason}" in lines
    assert f"{tree / 'bin/app'}: patched (loader: $ORIGIN/../lib/ld-musl.so)" in lines
    assert f"{tree / 'libexec/hello-again'}: hard link to {tree / 'bin/hello'}, linked to the rewritten file" \
        in lines
    assert lines[-1] == "relinterp: 13 files: 3 patched, 9 skipped, 1 duplicates"
    assert result.stderr == TOOL_WARNING.format(tree=tree)
    for name in ("bin/app", "bin/hello", "libexec/tools/tool"):
        assert patched(tree / name), name
    for name in ("bin/static", "lib/libshared.so", "lib/object.o"):
        assert not patched(tree / name)


def test_without_verbose_skipped_files_are_only_counted(tree):
    result = invoke("patch", "-r", tree, "--loader-rel", LOADER_REL)
    assert ": skipped," not in result.stdout
    assert "9 skipped" in result.stdout.splitlines()[-1]


def test_hard_links_in_a_tree_stay_one_patched_file(tree):
    invoke("patch", "-r", tree, "--loader-rel", LOADER_REL)
    first, second = tree / "bin" / "hello", tree / "libexec" / "hello-again"
    assert os.path.samefile(first, second) and first.stat().st_nlink == 2
    assert patched(first)


def test_a_symlink_named_on_the_command_line_is_the_same_file_as_its_target(tree):
    app, link = tree / "bin" / "app", tree / "bin" / "app-link"
    result = invoke("patch", app, link, "--loader-rel", LOADER_REL, "-v")
    assert result.stdout.splitlines()[-2:] == [f"{link}: same file as {app}",
                                               "relinterp: 2 files: 1 patched, 1 duplicates"]
    assert link.is_symlink() and patched(app)


def test_one_bad_file_among_many_does_not_stop_the_others(tree, tmp_path):
    bad = tree / "bin" / "cut"
    bad.write_bytes((tree / "bin" / "app").read_bytes()[:100])
    files = [tree / "bin" / "app", bad, tree / "bin" / "run.sh", tree / "libexec" / "tools" / "tool"]
    before = {f: sha256(f) for f in files[1:3]}
    result = invoke("patch", *files, "--loader-rel", LOADER_REL, "-j", "2")
    assert result.exit_code == EXIT_FAILED
    errors = result.stderr.splitlines()
    assert len(errors) == 3
    assert errors[0].startswith(f"{bad}: program header table outside the file")
    assert errors[1] == f"{tree / 'bin/run.sh'}: not an ELF file"  # named, so an error rather than skipped
    assert errors[2] + "\n" == TOOL_WARNING.format(tree=tree)  # a warning, not a failure
    assert result.stdout.splitlines()[-1] == "relinterp: 4 files: 2 patched, 2 failed"
    assert patched(files[0]) and patched(files[3])
    assert all(sha256(f) == digest for f, digest in before.items())


def test_a_named_fifo_is_refused_without_waiting_for_a_writer(tree):
    fifo = tree / "share" / "fifo"
    result = invoke("patch", fifo, tree / "bin" / "app", "--loader-rel", LOADER_REL)
    assert result.exit_code == EXIT_FAILED
    assert result.stderr == f"{fifo}: not a regular file\n"


def test_a_malformed_elf_file_in_a_tree_fails_the_run(tree):
    (tree / "lib" / "broken.so").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x03\x00")
    result = invoke("patch", "-r", tree, "--loader-rel", LOADER_REL)
    assert result.exit_code == EXIT_FAILED
    assert result.stderr.startswith(f"{tree / 'lib/broken.so'}: truncated ELF header")
    assert patched(tree / "bin" / "app")


def test_parallel_and_serial_runs_give_the_same_files_and_report(programs, tree, tmp_path):
    copy = build_tree(programs, tmp_path / "copy")
    serial = invoke("patch", "-r", tree, "--loader-rel", LOADER_REL, "-j", "1", "-v")
    parallel = invoke("patch", "-r", copy, "--loader-rel", LOADER_REL, "-j", "3", "-v")
    assert parallel.stdout.replace(str(copy), str(tree)) == serial.stdout
    for path in tree.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert sha256(path) == sha256(copy / path.relative_to(tree)), path


def test_nothing_to_do_when_a_tree_has_no_dynamic_executable(programs, tmp_path):
    (tmp_path / "only").mkdir()
    shutil.copy2(programs["static"], tmp_path / "only" / "static")
    (tmp_path / "only" / "notes.txt").write_text("hi\n")
    result = invoke("patch", "-r", tmp_path / "only", "--loader-rel", LOADER_REL)
    assert result.exit_code == EXIT_NOTHING_TO_DO
    assert result.stdout == "relinterp: 2 files: 2 skipped\n"
    assert invoke("patch", "-r", tmp_path / "only" / "static", "--loader-rel", LOADER_REL).exit_code == \
        EXIT_NOTHING_TO_DO  # a file named with -r is still named: refused with its own status


def test_a_static_program_among_patched_ones_is_reported_but_the_run_succeeds(programs, tmp_path):
    for d in ("bin", "lib"):
        (tmp_path / d).mkdir()
    for name in ("probe", "static"):
        shutil.copy2(programs[name], tmp_path / "bin" / name)
    shutil.copy2(MUSL_LOADER, tmp_path / "lib" / "ld-musl.so")  # $ORIGIN/../lib/ld-musl.so is there
    result = invoke("patch", tmp_path / "bin" / "probe", tmp_path / "bin" / "static", "--loader-rel", LOADER_REL)
    assert result.exit_code == EXIT_OK
    assert result.stderr == f"{tmp_path / 'bin' / 'static'}: static executable, nothing to patch\n"


@pytest.mark.parametrize("args, message", [
    (["DIR"], "is a directory, not a file (use -r to process the files in it)"),
    (["APP", "APP", "-o", "OUT"], "-o/--output takes exactly one PATH and no -r"),
    (["-r", "DIR", "-o", "OUT"], "-o/--output takes exactly one PATH and no -r"),
    (["APP", "-j", "0"], "0 is not in the range x>=1"),
])
def test_usage_errors(tree, args, message):
    args = [str(tree) if a == "DIR" else str(tree / "bin" / "app") if a == "APP" else a for a in args]
    result = invoke("patch", *args, "--loader-rel", LOADER_REL)
    assert result.exit_code == EXIT_USAGE
    assert message in result.stderr
    assert not patched(tree / "bin" / "app")


def test_recursive_json_report_lists_every_file_with_its_status(tree):
    document, result = json_run("patch", "-r", tree, "--loader-rel", LOADER_REL)
    assert result.exit_code == EXIT_OK and document["exit_code"] == EXIT_OK
    statuses = {Path(f["path"]).relative_to(tree).as_posix(): f["status"] for f in document["files"]}
    assert statuses == {**{name: "skipped" for name in SKIPPED}, "bin/app": "patched", "bin/hello": "patched",
                        "libexec/tools/tool": "patched", "libexec/hello-again": "same-file"}
    assert document["summary"] == {"files": 13, "patched": 3, "skipped": 9, "same-file": 1}
    assert result.stderr == TOOL_WARNING.format(tree=tree) + \
        "relinterp: 13 files: 3 patched, 9 skipped, 1 duplicates\n"  # stdout is the JSON


@pytest.mark.usefixtures("namespace")
def test_a_tree_patched_by_the_real_command_runs_where_the_system_loader_is_hidden(tree):
    result = relinterp_cli("patch", "-r", tree, "--loader-rel", "../lib/ld-musl.so", "-j", "2")
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.splitlines()[-1] == "relinterp: 13 files: 3 patched, 9 skipped, 1 duplicates"
    assert run_hidden([tree / "bin" / "hello"]).stdout == "hello\n"
    assert run_hidden([tree / "bin" / "app", "exit", "7"]).returncode == 7
