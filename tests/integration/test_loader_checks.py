"""The loader a program is patched to, checked as it is at patch time: one of the other
C library is refused (musl for a glibc program, glibc for a musl one), with the input
untouched; one that does not exist yet is a warning (it may be copied in later); and
`verify` fails a tree whose program and loader do not belong together."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import LOADER_REL, MUSL_LOADER, PROGRAMS, compile_program, relinterp, sha256

GLIBC_LOADER = Path("/lib64/ld-linux-x86-64.so.2")


@pytest.fixture
def tree(tmp_path, programs) -> Path:
    """bin/musl (musl-gcc), bin/glibc (gcc) and lib/ with musl's loader as ld-musl.so
    and glibc's as ld-linux.so."""
    for d in ("bin", "lib"):
        (tmp_path / d).mkdir()
    shutil.copy2(programs["hello"], tmp_path / "bin" / "musl")
    compile_program("gcc", tmp_path / "bin" / "glibc", PROGRAMS / "hello.c")
    shutil.copy2(MUSL_LOADER, tmp_path / "lib" / "ld-musl.so")
    shutil.copy2(GLIBC_LOADER, tmp_path / "lib" / "ld-linux.so")
    return tmp_path


@pytest.mark.parametrize("program, loader, family, other", [
    ("glibc", "ld-musl.so", "glibc", "musl"), ("musl", "ld-linux.so", "musl", "glibc")])
@pytest.mark.parametrize("dry_run", [[], ["-n"]], ids=["patch", "dry-run"])
def test_a_loader_of_the_other_c_library_is_refused(tree, program, loader, family, other, dry_run):
    app = tree / "bin" / program
    before = sha256(app)
    result = relinterp("patch", *dry_run, app, "--loader-rel", f"../lib/{loader}")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == f"{app}: loader $ORIGIN/../lib/{loader} ({tree}/lib/{loader}) is a {other} loader, but " \
                            f"the program is linked against {family} (PT_INTERP {relinterp_interp(app)}): it would " \
                            f"not start; give a {family} loader\n"
    assert sha256(app) == before


def relinterp_interp(app: Path) -> str:
    from relinterp.elf.executable import read_executable

    return read_executable(app).interp


@pytest.mark.parametrize("dry_run", [[], ["-n"]], ids=["patch", "dry-run"])
def test_a_loader_that_is_not_there_yet_is_a_warning_and_the_patch_is_made(tree, dry_run):
    app = tree / "bin" / "musl"
    result = relinterp("patch", *dry_run, app, "--loader-rel", "../lib/later.so", "--loader-rel", LOADER_REL)
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"{app}: warning: loader $ORIGIN/../lib/later.so ({tree}/lib/later.so) does not exist " \
                            "yet: put the loader there before the program runs\n"
    assert ("would be patched" if dry_run else "patched") in result.stdout


def test_verify_fails_a_program_whose_loader_is_of_the_other_c_library(tree):
    app = tree / "bin" / "glibc"
    assert relinterp("patch", app, "--loader-rel", "../lib/ld-later.so").returncode == 0  # not there: allowed
    shutil.copy2(MUSL_LOADER, tree / "lib" / "ld-later.so")
    (tree / "bin" / "musl").unlink()
    result = relinterp("verify", tree)
    assert result.returncode == 1
    assert f"{tree}: FAIL bin/glibc: loader: lib/ld-later.so is a musl loader, but the program is linked against " \
           f"glibc (PT_INTERP {GLIBC_LOADER}): it would not start\n" in result.stdout
