"""Patched musl programs run with the system loader unreachable, behaving exactly as
if the kernel had loaded their loader."""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import LOADER_REL, relinterp, run, run_hidden

pytestmark = pytest.mark.usefixtures("namespace")


@pytest.fixture(params=["probe", "probe-nopie"], ids=["pie", "nopie"])
def dist(request, ship_program):
    return ship_program(request.param)


def test_unpatched_program_cannot_start_where_the_loader_is_hidden(ship_program):
    dist = ship_program(patch=False)
    assert run([dist.app]).returncode == 0  # fine where the system loader exists
    hidden = run_hidden([dist.app])
    assert hidden.returncode == 127  # the kernel cannot find PT_INTERP: exec fails
    assert "not found" in hidden.stderr


def test_patched_program_runs_and_returns_its_exit_status(dist):
    assert run_hidden([dist.app]).stdout == "hello\n"
    assert run_hidden([dist.app, "exit", "42"]).returncode == 42


def test_argv_is_passed_through_empty_long_and_many(dist):
    long = "x" * 100_000
    many = [str(i) for i in range(5000)]
    result = run_hidden([dist.app, "args", "", long, *many])
    lines = result.stdout.splitlines()
    assert lines[0] == f"argc {3 + len(many) + 1}"
    assert lines[2:5] == ["[args]", "[]", f"[{long}]"]
    assert lines[5:] == [f"[{a}]" for a in many]


def test_environment_is_passed_through(dist):
    env = {"PATH": os.environ["PATH"], "PROBE_VALUE": "a b=c", **{f"FILL{i}": "y" * 100 for i in range(500)}}
    result = run_hidden([dist.app, "env", "PROBE_VALUE"], env=env)
    assert result.stdout == "PROBE_VALUE=a b=c\n"


def test_proc_self_exe_and_argv0_are_the_program(dist):
    result = run_hidden([dist.app, "exe"])
    assert result.stdout == f"exe {dist.app}\nargv0 {dist.app}\n"


def test_starts_by_relative_path_from_another_directory(dist, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    relative = os.path.relpath(dist.app, elsewhere)
    result = run_hidden([relative, "exe"], cwd=elsewhere)
    assert result.stdout == f"exe {dist.app}\nargv0 {relative}\n"


def test_starts_via_path_lookup(dist):
    env = {"PATH": f"{dist.app.parent}:{os.environ['PATH']}"}
    result = run_hidden(["app", "exe"], env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"exe {dist.app}\n")


def test_starts_via_symlink_in_another_directory(dist, tmp_path):
    links = tmp_path / "links"
    links.mkdir()
    (links / "tool").symlink_to(dist.app)
    result = run_hidden([links / "tool", "exe"])
    assert result.stdout == f"exe {dist.app}\nargv0 {links / 'tool'}\n"


def test_without_proc_the_program_directory_comes_from_execfn(ship_program, tmp_path):
    # Containers and chroots without /proc: AT_EXECFN, made absolute against the cwd.
    # (A program needing RUNPATH $ORIGIN libraries cannot run there anyway: musl itself
    # expands $ORIGIN from /proc/self/exe.)
    dist = ship_program("hello")
    assert run_hidden([dist.app], hide_proc=True).stdout == "hello\n"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    relative = os.path.relpath(dist.app, elsewhere)
    result = run_hidden([relative], hide_proc=True, cwd=elsewhere)
    assert (result.returncode, result.stdout) == (0, "hello\n"), result.stderr
    dist.loader.unlink()
    result = run_hidden([relative], hide_proc=True, cwd=elsewhere)
    assert result.stderr.endswith(f": {dist.loader} (No such file or directory)\n")  # made absolute


def test_threads_have_their_own_tls(dist):
    assert run_hidden([dist.app, "threads"]).stdout == "threads 84 main 7\n"


def test_dlopen_dlsym_dladdr_find_a_library_beside_it(dist):
    result = run_hidden([dist.app, "plugin"])
    assert result.stdout == "plugin 42 from libplugin.so\n", result.stderr


def test_copy_relocation_is_honoured(dist):
    assert run_hidden([dist.app, "copyreloc"]).stdout == "counter 42 answer 42\n"


def test_small_and_large_malloc(dist):
    assert run_hidden([dist.app, "malloc"]).stdout == "malloc ok 90\n"


def test_atexit_handlers_and_destructors_run_in_order(dist):
    result = run_hidden([dist.app, "atexit"])
    assert result.stdout == "atexit last-registered\natexit first-registered\ndestructor\n"


def test_death_by_signal_is_reported_as_such(dist):
    assert run_hidden([dist.app, "signal"]).returncode == -11


def test_loader_sees_itself_and_the_program_in_auxv(dist):
    assert run_hidden([dist.app, "auxv"]).stdout == "base set entry set\n"


def test_running_through_the_loader_still_works(dist):
    result = run_hidden([dist.loader, dist.app, "args", "z"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"argc 3\n[{dist.app}]\n[args]\n[z]\n"


def test_strip_after_patch_keeps_it_working(dist):
    assert run(["strip", dist.app]).returncode == 0
    assert run_hidden([dist.app, "plugin"]).stdout == "plugin 42 from libplugin.so\n"


def test_missing_loader_exits_127_naming_what_was_tried(dist):
    dist.loader.unlink()
    result = run_hidden([dist.app])
    assert result.returncode == 127
    assert result.stderr == f"{dist.app}: relinterp: no usable loader: {dist.loader} (No such file or directory)\n"


def test_loader_that_is_not_elf_exits_127(dist):
    dist.loader.write_text("#!/bin/sh\n")
    result = run_hidden([dist.app])
    assert result.returncode == 127
    assert result.stderr.endswith(f": {dist.loader} (not an ELF file)\n")


def test_loader_for_another_machine_exits_127(dist, tmp_path):
    # A real AArch64 shared object, assembled and linked with the cross binutils.
    source = tmp_path / "exit.s"
    source.write_text(".text\n.globl _start\n_start:\n  mov x8, #93\n  svc #0\n")
    obj = tmp_path / "exit.o"
    if shutil.which("aarch64-linux-gnu-as") is None:
        pytest.fail("aarch64-linux-gnu-as missing (apt-get install binutils-aarch64-linux-gnu)")
    assert run(["aarch64-linux-gnu-as", "-o", obj, source]).returncode == 0
    dist.loader.unlink()
    assert run(["aarch64-linux-gnu-ld", "-shared", "-o", dist.loader, obj]).returncode == 0
    result = run_hidden([dist.app])
    assert result.returncode == 127
    assert result.stderr.endswith(f": {dist.loader} (wrong machine, not x86_64)\n")


def test_second_candidate_is_used_when_the_first_is_missing(ship_program, tmp_path):
    dist = ship_program(patch=False)
    result = relinterp("patch", dist.app, "--loader-rel", "../nowhere/ld.so", "--loader-rel", LOADER_REL)
    assert result.returncode == 0, result.stderr
    assert run_hidden([dist.app]).stdout == "hello\n"


def test_tree_still_runs_after_being_moved(ship_program, tmp_path):
    dist = ship_program()
    moved = tmp_path / "moved" / "deeper"
    moved.parent.mkdir()
    shutil.move(dist.root, moved)
    assert run_hidden([moved / "bin" / "app", "plugin"]).stdout == "plugin 42 from libplugin.so\n"


def test_loader_is_named_in_pt_interp_by_its_resolved_absolute_path(dist):
    # musl names itself (dladdr, dl_iterate_phdr, gdb) after the program's PT_INTERP.
    loader = os.path.realpath(dist.loader)
    result = run_hidden([dist.app, "interp"])
    assert result.stdout == f"first PT_PHDR\ninterp {loader}\nlibc {loader}\n", result.stderr
