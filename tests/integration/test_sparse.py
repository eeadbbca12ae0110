"""A sparse program stays sparse: patching and restoring copy its data, not its holes
(SEEK_DATA/SEEK_HOLE), and hash a hole without reading it.  A program with a 4 GiB hole
takes a few blocks of disk before, after patching and after restoring."""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import MUSL_LOADER, relinterp, run

pytestmark = pytest.mark.usefixtures("musl_gcc")
HOLE = 4 << 30


def data_after(path, offset: int) -> int:
    """How many bytes after `offset` the file stores (the rest is holes)."""
    fd = os.open(path, os.O_RDONLY)
    stored, at = 0, offset
    try:
        while True:
            try:
                start = os.lseek(fd, at, os.SEEK_DATA)
            except OSError:  # ENXIO: no data after `at`
                return stored
            at = os.lseek(fd, start, os.SEEK_HOLE)
            stored += at - start
    finally:
        os.close(fd)


def test_a_program_with_a_4_gib_hole_stays_sparse_when_patched_and_restored(programs, tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "lib").mkdir()
    shutil.copy2(MUSL_LOADER, tmp_path / "lib/ld-musl.so")
    app = tmp_path / "bin/app"
    shutil.copy2(programs["hello"], app)
    program = app.read_bytes()
    with open(app, "ab") as sparse:
        sparse.truncate(len(program) + HOLE)  # a hole after the program's bytes
    before = os.stat(app)
    assert data_after(app, len(program)) < 1 << 16, "this file system keeps no hole"

    patched = relinterp("patch", app, "--loader-rel", "../lib/ld-musl.so")
    assert patched.returncode == 0, patched.stderr
    after = os.stat(app)
    assert after.st_size > before.st_size
    assert after.st_blocks * 512 < before.st_blocks * 512 + (1 << 20)  # the stub and the record, not the hole
    assert run([app], text=True).stdout.startswith("hello")

    restored = relinterp("restore", app, "--json")
    assert restored.returncode == 0 and '"exact": true' in restored.stdout, restored.stdout + restored.stderr
    assert os.stat(app).st_size == before.st_size and os.stat(app).st_blocks * 512 < 1 << 20
    with open(app, "rb") as stream:  # the same bytes: the program's, then nothing but the hole
        assert stream.read(len(program)) == program
    assert data_after(app, len(program)) < 1 << 16
