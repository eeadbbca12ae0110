"""How a patched program finds its loader: several candidates in order, absolute ones,
the original interpreter as a fallback, candidates derived from DT_RUNPATH, the
RELINTERP_LOADER override and the RELINTERP_DEBUG trace.  Real musl programs, patched by
the real CLI, run where the system's musl loader does not exist."""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import LOADER_REL, MUSL_LOADER, PROGRAMS, relinterp, run, run_hidden, sha256
from relinterp.elf.executable import read_executable
from discovery_support import env_with, i386_shared_object, patch, run_traced

pytestmark = pytest.mark.usefixtures("namespace")

SYSTEM_INTERP = "/lib/ld-musl-x86_64.so.1"
NOT_A_LOADER = "not a loader (ELF type is neither ET_DYN nor ET_EXEC)"


def test_candidates_are_tried_in_order_and_every_miss_is_named_with_its_reason(ship_program, programs):
    dist = ship_program("hello", patch=False)
    lib = dist.root / "lib"
    (lib / "script").write_text("#!/bin/sh\n")
    (lib / "script").chmod(0o755)
    i386_shared_object(lib)
    shutil.copy2(programs["object.o"], lib / "object.o")  # ELF for the right machine, but ET_REL
    (lib / "object.o").chmod(0o755)
    patch(dist.app, "--loader-rel", "../nowhere/ld.so", "--loader-rel", "../lib/script",
          "--loader-rel", "../lib/ld32.so", "--loader-rel", "../lib/object.o", "--loader-rel", LOADER_REL)

    result, trace = run_traced([dist.app])
    assert (result.returncode, result.stdout) == (0, "hello\n"), result.stderr
    tried = [line for line in trace if line.startswith("candidate ")]
    assert tried[:4] == [
        f"candidate 1 of 5: $ORIGIN/../nowhere/ld.so = {dist.root}/nowhere/ld.so: No such file or directory",
        f"candidate 2 of 5: $ORIGIN/../lib/script = {lib}/script: not an ELF file",
        f"candidate 3 of 5: $ORIGIN/../lib/ld32.so = {lib}/ld32.so: wrong machine, not x86_64",
        f"candidate 4 of 5: $ORIGIN/../lib/object.o = {lib}/object.o: {NOT_A_LOADER}",
    ]
    assert tried[4].startswith(f"candidate 5 of 5: $ORIGIN/{LOADER_REL} = {dist.loader}: loader mapped at 0x")

    dist.loader.unlink()
    failed = run_hidden([dist.app])
    assert failed.returncode == 127
    assert failed.stderr == (
        f"{dist.app}: relinterp: no usable loader: {dist.root}/nowhere/ld.so (No such file or directory), "
        f"{lib}/script (not an ELF file), {lib}/ld32.so (wrong machine, not x86_64), "
        f"{lib}/object.o ({NOT_A_LOADER}), {dist.loader} (No such file or directory)\n")


def test_absolute_loader_is_tried_after_the_relative_ones(ship_program, tmp_path):
    dist = ship_program("hello", patch=False)
    elsewhere = tmp_path / "opt" / "ld-musl.so"
    elsewhere.parent.mkdir()
    shutil.copy2(MUSL_LOADER, elsewhere)
    out = patch(dist.app, "--loader", str(elsewhere), "--loader-rel", "../nowhere/ld.so")
    assert out == f"{dist.app}: patched (loader: $ORIGIN/../nowhere/ld.so, {elsewhere})\n"
    result, trace = run_traced([dist.app])
    assert result.stdout == "hello\n", result.stderr
    assert any(line.startswith(f"candidate 2 of 2: {elsewhere}: loader mapped at 0x") for line in trace)


def test_fallback_system_tries_the_original_interpreter_last(ship_program):
    dist = ship_program("probe", patch=False)
    out = patch(dist.app, "--loader-rel", "../nowhere/ld.so", "--fallback-system", "-v")
    assert f"  candidate 2: {SYSTEM_INTERP} (the original interpreter, --fallback-system)" in out.splitlines()
    # Where the system loader exists, it is the one used, and named in PT_INTERP as before.
    result = run([dist.app, "interp"], text=True)
    assert result.stdout.splitlines()[1] == f"interp {SYSTEM_INTERP}", result.stderr
    hidden = run_hidden([dist.app])
    assert hidden.returncode == 127
    assert hidden.stderr.endswith(f", {SYSTEM_INTERP} (No such file or directory)\n")


def test_loader_must_be_absolute(programs, tmp_path):
    app = tmp_path / "app"
    shutil.copy2(programs["hello"], app)
    result = relinterp("patch", app, "--loader", "lib/ld.so")
    assert result.returncode == 2
    assert "must be an absolute path" in result.stderr
    assert sha256(app) == sha256(programs["hello"])


def test_candidates_are_derived_from_runpath_when_none_is_given(ship_program):
    # probe is linked with RUNPATH $ORIGIN/../lib; ship the loader under its versioned name.
    dist = ship_program("probe", patch=False)
    versioned = dist.root / "lib" / "ld-musl-x86_64.so.1"
    dist.loader.rename(versioned)
    out = patch(dist.app, "-v").splitlines()
    assert out[0] == (f"{dist.app}: patched (loader: $ORIGIN/../lib/ld-musl-x86_64.so.1, "
                      "$ORIGIN/../lib/libc.so)")
    assert out[-2:] == [
        "  candidate 1: $ORIGIN/../lib/ld-musl-x86_64.so.1 (derived from DT_RUNPATH entry $ORIGIN/../lib)",
        "  candidate 2: $ORIGIN/../lib/libc.so (derived from DT_RUNPATH entry $ORIGIN/../lib)",
    ]
    assert run_hidden([dist.app, "plugin"]).stdout == "plugin 42 from libplugin.so\n"
    versioned.rename(dist.root / "lib" / "libc.so")  # musl's loader is its libc: either name
    assert run_hidden([dist.app, "plugin"]).stdout == "plugin 42 from libplugin.so\n"


def test_rpath_with_braces_is_used_when_there_is_no_runpath(tmp_path, musl_gcc):
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "lib64").mkdir()
    app = tree / "bin" / "app"
    built = run([musl_gcc, "-o", app, PROGRAMS / "hello.c", "-Wl,--disable-new-dtags,-rpath,${ORIGIN}/../lib64"])
    assert built.returncode == 0, built.stderr
    shutil.copy2(MUSL_LOADER, tree / "lib64" / "libc.so")
    out = patch(app, "-v")
    assert "  candidate 2: $ORIGIN/../lib64/libc.so (derived from DT_RPATH entry ${ORIGIN}/../lib64)" in out
    assert run_hidden([app]).stdout == "hello\n"


def test_patch_without_any_candidate_says_how_to_give_one(programs, tmp_path):
    app = tmp_path / "app"
    shutil.copy2(programs["hello"], app)  # no DT_RUNPATH, no DT_RPATH
    result = relinterp("patch", app)
    assert result.returncode == 1
    assert result.stderr == (
        f"{app}: no loader candidate: give --loader-rel PATH (relative to the program's directory), "
        "--loader /PATH or --fallback-system; none can be derived: the program has no DT_RUNPATH or DT_RPATH\n")
    assert sha256(app) == sha256(programs["hello"])


def test_relinterp_loader_is_tried_first_for_one_run(ship_program, tmp_path):
    dist = ship_program("probe")
    other = tmp_path / "other" / "ld.so"
    other.parent.mkdir()
    shutil.copy2(MUSL_LOADER, other)
    result = run_hidden([dist.app, "interp"], env=env_with(RELINTERP_LOADER=str(other)))
    assert result.stdout.splitlines()[1:] == [f"interp {other}", f"libc {other}"], result.stderr
    result = run_hidden([dist.app, "interp"], env=env_with(RELINTERP_LOADER=""))  # empty: unset
    assert result.stdout.splitlines()[1] == f"interp {dist.loader}"


def test_relinterp_loader_that_fails_falls_through_and_is_named_first(ship_program):
    dist = ship_program("hello")
    assert run_hidden([dist.app], env=env_with(RELINTERP_LOADER="/nowhere/ld.so")).stdout == "hello\n"
    dist.loader.unlink()
    result = run_hidden([dist.app], env=env_with(RELINTERP_LOADER="/nowhere/ld.so"))
    assert result.returncode == 127
    assert result.stderr == (f"{dist.app}: relinterp: no usable loader: RELINTERP_LOADER=/nowhere/ld.so "
                             f"(No such file or directory), {dist.loader} (No such file or directory)\n")
    result = run_hidden([dist.app], env=env_with(RELINTERP_LOADER="lib/ld.so"))
    assert "RELINTERP_LOADER=lib/ld.so (not tried: not an absolute path), " in result.stderr
    result = run_hidden([dist.app], env=env_with(RELINTERP_LOADER="/" + "x" * 5000))
    assert ": no usable loader: RELINTERP_LOADER (path too long), " in result.stderr


def test_trace_shows_origin_candidates_mapping_and_auxv(ship_program):
    dist = ship_program("probe", patch=False)
    patch(dist.app, "--loader-rel", "../nowhere/ld.so", "--loader-rel", LOADER_REL)
    result, trace = run_traced([dist.app], env={"RELINTERP_LOADER": "/nowhere/other.so"})
    assert result.stdout == "hello\n"
    assert result.stderr.splitlines() == [f"relinterp: {line}" for line in trace]  # nothing else
    assert trace[:3] == [
        "RELINTERP_LOADER=/nowhere/other.so: No such file or directory",
        f"$ORIGIN {dist.app.parent} (from /proc/self/exe)",
        f"candidate 1 of 2: $ORIGIN/../nowhere/ld.so = {dist.root}/nowhere/ld.so: No such file or directory",
    ]
    assert trace[3].startswith(f"candidate 2 of 2: $ORIGIN/{LOADER_REL} = {dist.loader}: loader mapped at 0x")
    names = [line.split()[1] for line in trace[4:8]]
    assert names == ["AT_PHDR", "AT_PHNUM", "AT_BASE", "AT_ENTRY"]
    phnum = len(read_executable(dist.app).segments)
    assert trace[5] == f"auxv AT_PHNUM {phnum} -> {phnum + 1}"  # PT_INTERP comes back
    assert trace[6].startswith("auxv AT_BASE 0x0 -> 0x")
    base = trace[3].split("loader mapped at ")[1].split(",")[0]
    assert trace[6].endswith(f" -> {base}")
    assert trace[8].startswith("entering the loader at 0x")
    assert len(trace) == 9


@pytest.mark.parametrize("value", [None, "", "0"])
def test_trace_is_off_unless_asked_for(ship_program, value):
    dist = ship_program("hello")
    env = dict(os.environ)
    env.pop("RELINTERP_DEBUG", None)
    if value is not None:
        env["RELINTERP_DEBUG"] = value
    result = run_hidden([dist.app], env=env)
    assert (result.stdout, result.stderr) == ("hello\n", "")


def test_trace_says_when_a_loader_already_linked_the_program(ship_program):
    dist = ship_program("hello")
    result, trace = run_traced([dist.loader, dist.app])
    assert result.stdout == "hello\n"
    assert len(trace) == 1
    assert trace[0].startswith("a loader linked the program already: entering it at 0x")


def test_candidate_too_long_for_its_directory_is_reported_whole(programs, tmp_path):
    # A program 3.3 KiB deep, a 1000-byte candidate: together longer than a path can be.
    deep = tmp_path.joinpath(*["d" * 250] * 13)
    deep.mkdir(parents=True)
    app = deep / "app"
    shutil.copy2(programs["hello"], app)
    candidate = "x" * 1000
    patch(app, "--loader-rel", candidate)
    result = run_hidden([app])
    assert result.returncode == 127
    assert result.stderr == f"{app}: relinterp: no usable loader: $ORIGIN/{candidate} (path too long)\n"
