"""Idempotent and re-patchable: the same options leave a file alone, other options start
from the recorded original (so the file never grows), and --dry-run writes nothing."""

from __future__ import annotations

import os
import shutil

import relinterp
from conftest import LOADER_REL, sha256
from relinterp.elf.executable import read_executable
from relinterp.errors import EXIT_OK
from report_support import invoke


def snapshot(directory) -> dict:
    """Every file's name, inode, mtime and content digest."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, sha256(p)) for p in sorted(directory.iterdir())}


def test_ten_patches_with_different_candidates_leave_the_size_of_one(programs, tmp_path):
    app, once = tmp_path / "app", tmp_path / "once"
    shutil.copy2(programs["probe"], app)
    phnum = len(read_executable(app).segments)
    sizes = []
    for i in range(10):
        result = relinterp.patch(app, loader_rel=[f"../lib{i}/ld-musl.so", "x" * i or "y"])
        assert result.status == "patched"
        sizes.append(app.stat().st_size)
    relinterp.patch(programs["probe"], loader_rel=["../lib9/ld-musl.so", "x" * 9], output=once)
    assert app.stat().st_size == once.stat().st_size
    assert sha256(app) == sha256(once)  # not just the size: the same file
    assert max(sizes) - min(sizes) < 16  # only the candidate strings differ
    assert [c.path for c in relinterp.inspect(app).patch.candidates] == ["../lib9/ld-musl.so", "x" * 9]
    assert len(read_executable(app).segments) == phnum  # no segment added along the way
    relinterp.restore(app)
    assert sha256(app) == sha256(programs["probe"])


def test_patching_a_patched_tree_again_with_the_same_options_touches_nothing(programs, tmp_path):
    for name in ("probe", "probe-nopie", "hello"):
        shutil.copy2(programs[name], tmp_path / name)
    assert invoke("patch", "-r", tmp_path, "--loader-rel", LOADER_REL).exit_code == EXIT_OK
    before = snapshot(tmp_path)
    result = invoke("patch", "-r", tmp_path, "--loader-rel", LOADER_REL)
    assert result.exit_code == EXIT_OK
    assert result.stdout.splitlines()[-1] == "relinterp: 3 files: 3 already patched"
    assert snapshot(tmp_path) == before


def test_dry_run_prints_the_plan_and_writes_nothing(programs, tmp_path):
    app = tmp_path / "app"
    shutil.copy2(programs["probe"], app)
    before = snapshot(tmp_path)
    result = invoke("patch", app, "--loader-rel", LOADER_REL, "--loader-rel", "ld.so", "--dry-run")
    assert result.exit_code == EXIT_OK
    assert snapshot(tmp_path) == before  # bytes, mtime and inode; and no temporary file left
    lines = result.stdout.splitlines()
    assert lines[0] == f"{app}: would be patched (loader: $ORIGIN/{LOADER_REL}, $ORIGIN/ld.so); " \
                       "nothing written (--dry-run)"
    real = relinterp.patch(app, loader_rel=[LOADER_REL, "ld.so"])
    seg = real.segment
    assert lines[1:] == [
        "  interpreter was /lib/ld-musl-x86_64.so.1 (libc: musl); machine EM_X86_64, ET_DYN",
        f"  stub segment: file offset {seg.offset:#x}, address {seg.vaddr:#x}, {seg.size} bytes, align {seg.align:#x}",
        f"  size: {real.size_before} -> {real.size_after} bytes (+{real.size_after - real.size_before})",
        f"  candidate 1: $ORIGIN/{LOADER_REL} (--loader-rel)",
        "  candidate 2: $ORIGIN/ld.so (--loader-rel)",
    ]
    assert real.size_after == app.stat().st_size  # the plan shown is the one carried out


def test_dry_run_over_a_tree_and_a_patched_file_writes_nothing(programs, tmp_path):
    for name in ("probe", "hello", "static"):
        shutil.copy2(programs[name], tmp_path / name)
    relinterp.patch(tmp_path / "hello", loader_rel=LOADER_REL)
    before = snapshot(tmp_path)
    result = invoke("patch", "-r", tmp_path, "--loader-rel", "other/ld.so", "-n", "-j", "2")
    assert result.exit_code == EXIT_OK
    assert result.stdout.splitlines()[-1] == "relinterp: 3 files: 2 to patch, 1 skipped"
    assert snapshot(tmp_path) == before
    assert [c.path for c in relinterp.inspect(tmp_path / "hello").patch.candidates] == [LOADER_REL]


def test_patching_to_another_file_with_the_same_options_writes_the_same_bytes(ship_program, tmp_path):
    dist = ship_program("hello")
    out = tmp_path / "copy"
    result = invoke("patch", dist.app, "--loader-rel", LOADER_REL, "-o", out)
    assert result.stdout == f"{out}: written; {dist.app} was already patched (loader: $ORIGIN/{LOADER_REL})\n"
    assert sha256(out) == sha256(dist.app)
    assert os.access(out, os.X_OK)
