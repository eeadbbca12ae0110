"""The restore record's facts and the digest that proves a restore exact, on synthetic
executables of every ELF class and byte order (tests/unit/synthetic.py)."""

from __future__ import annotations

import hashlib
import os

import pytest

from relinterp.elf.executable import read_executable
from relinterp.errors import CandidateError
from relinterp.rewrite import digest
from relinterp.rewrite.plan import RewritePlan, Write, plan_patch
from relinterp.rewrite.restore import plan_restore
from relinterp.rewrite.write import apply_plan, write_patch
from synthetic import INTERP, LAYOUTS, fake_stub, synthetic_executable

DYNAMIC = [("DT_NEEDED", "libfoo.so.1"), ("DT_NEEDED", "libc.so"), ("DT_RUNPATH", "$ORIGIN/../lib"),
           ("DT_RPATH", "/old")]


@pytest.mark.parametrize("elfclass,little,machine", LAYOUTS)
def test_the_record_holds_the_originals_digest_and_dynamic_facts(tmp_path, elfclass, little, machine):
    synthetic_executable(tmp_path / "exe", elfclass, little, machine, dynamic=DYNAMIC)
    exe = read_executable(tmp_path / "exe")
    write_patch(exe, fake_stub(exe), ("ld.so",), target=str(tmp_path / "patched"))

    record = read_executable(tmp_path / "patched").patch.config.restore
    assert record.sha256 == digest.file_sha256(str(tmp_path / "exe"))
    assert record.interp == INTERP.rstrip(b"\0").decode()
    assert (record.needed, record.runpath, record.rpath) == (("libfoo.so.1", "libc.so"), "$ORIGIN/../lib", "/old")


@pytest.mark.parametrize("elfclass,little,machine", LAYOUTS)
def test_restoring_an_untouched_patch_gives_the_recorded_digest(tmp_path, elfclass, little, machine):
    synthetic_executable(tmp_path / "exe", elfclass, little, machine, dynamic=DYNAMIC)
    exe = read_executable(tmp_path / "exe")
    write_patch(exe, fake_stub(exe), ("ld.so",), target=str(tmp_path / "patched"))
    patched = read_executable(tmp_path / "patched")
    assert digest.plan_sha256(plan_restore(patched), patched.path) == patched.patch.config.restore.sha256

    data = bytearray((tmp_path / "patched").read_bytes())
    data[exe.file_size - 1] ^= 1  # a byte the headers do not cover, as CMake's install step changes one
    (tmp_path / "patched").write_bytes(bytes(data))
    patched = read_executable(tmp_path / "patched")
    assert digest.plan_sha256(plan_restore(patched), patched.path) != patched.patch.config.restore.sha256


def test_a_record_without_facts_still_reads(tmp_path):
    """As relinterp wrote it before the facts existed: the headers, then zero padding."""
    synthetic_executable(tmp_path / "exe", 64, True, "EM_X86_64")
    exe = read_executable(tmp_path / "exe")
    apply_plan(plan_patch(exe, fake_stub(exe), ("ld.so",)), str(tmp_path / "exe"), str(tmp_path / "patched"))
    patched = read_executable(tmp_path / "patched")
    assert patched.patch.config.restore.sha256 is None
    assert patched.patch.original_interp == INTERP.rstrip(b"\0").decode()  # found where the patch left it


@pytest.mark.parametrize("size", [0, 1, 4096, 4097, 3 * 4096 + 5])
def test_the_digest_is_sha256_over_the_blocks_sha256s_however_it_is_read(tmp_path, monkeypatch, size):
    monkeypatch.setattr(digest, "BLOCK", 4096)
    monkeypatch.setattr(digest, "PIECE", 1000)  # blocks read in several pieces
    data = os.urandom(size)
    (tmp_path / "file").write_bytes(data)
    expected = hashlib.sha256(b"".join(hashlib.sha256(data[at : at + 4096]).digest()
                                       for at in range(0, size, 4096))).digest()
    assert digest.file_sha256(str(tmp_path / "file")) == expected
    assert digest.plan_sha256(RewritePlan(keep=size, writes=(), size=size), str(tmp_path / "file")) == expected
    if size:  # what a plan lays over the file is hashed, not the file's bytes
        flipped = data[:-1] + bytes([data[-1] ^ 1])
        (tmp_path / "flipped").write_bytes(flipped)
        plan = RewritePlan(keep=size, writes=(Write(size - 1, flipped[-1:]),), size=size)
        assert digest.plan_sha256(plan, str(tmp_path / "file")) == digest.file_sha256(str(tmp_path / "flipped"))
        assert digest.plan_sha256(plan, str(tmp_path / "file")) != expected


def test_a_patch_refused_after_the_copy_began_leaves_nothing(tmp_path):
    synthetic_executable(tmp_path / "exe", 64, True, "EM_X86_64")
    exe = read_executable(tmp_path / "exe")
    with pytest.raises(CandidateError):
        write_patch(exe, fake_stub(exe), ("l" * 2000,), target=str(tmp_path / "patched"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exe"]
