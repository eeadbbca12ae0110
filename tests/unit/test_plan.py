"""Planning arithmetic, on synthetic executables of every ELF class and byte order.

No big-endian stub ships yet, so these files are built in Python (tests/unit/synthetic.py).
Real 32-bit programs are patched and run in the integration tests (test_arch.py).
"""

from __future__ import annotations

from dataclasses import replace

import struct

import pytest

from relinterp.elf.record import MAX_CANDIDATE_BYTES, MAX_CANDIDATES
from relinterp.elf.executable import MAX_STUB_SEGMENT, read_executable
from relinterp.errors import CandidateError, UnsupportedError
from relinterp.rewrite.plan import SEGMENT_FILE_ALIGN, plan_patch
from relinterp.rewrite.restore import plan_restore
from relinterp.rewrite.write import apply_plan
from synthetic import INTERP, LAYOUTS, fake_stub, synthetic_executable


@pytest.mark.parametrize("elfclass,little,machine", LAYOUTS)
def test_model_reads_every_class_and_byte_order(tmp_path, elfclass, little, machine):
    synthetic_executable(tmp_path / "exe", elfclass, little, machine)
    exe = read_executable(tmp_path / "exe")
    assert (exe.elfclass, exe.little_endian, exe.machine) == (elfclass, little, machine)
    assert exe.interp == INTERP.rstrip(b"\0").decode()
    assert [s.type for s in exe.segments] == ["PT_PHDR", "PT_INTERP", "PT_LOAD"]
    assert exe.patch is None


@pytest.mark.parametrize("elfclass,little,machine", LAYOUTS)
def test_patch_then_restore_round_trips_every_class_and_byte_order(tmp_path, elfclass, little, machine):
    original = tmp_path / "exe"
    synthetic_executable(original, elfclass, little, machine)
    exe = read_executable(original)
    plan = plan_patch(exe, fake_stub(exe), ("../lib/ld.so", "ld.so"))
    apply_plan(plan, str(original), str(tmp_path / "patched"))

    patched = read_executable(tmp_path / "patched")
    assert patched.interp is None
    assert [s.type for s in patched.segments] == ["PT_PHDR", "PT_LOAD", "PT_LOAD"]
    assert patched.entry == plan.segment.vaddr + 8
    assert patched.patch.config.candidates == ("../lib/ld.so", "ld.so")
    assert patched.patch.config.entry == exe.entry
    assert replace(patched.patch.original, path=exe.path) == exe

    apply_plan(plan_restore(patched), str(tmp_path / "patched"), str(tmp_path / "restored"))
    assert (tmp_path / "restored").read_bytes() == original.read_bytes()


@pytest.mark.parametrize("elfclass,little,machine", LAYOUTS)
def test_config_block_is_written_in_the_file_byte_order(tmp_path, elfclass, little, machine):
    # The stub reads it with plain loads: the target's byte order, fixed-width fields.
    synthetic_executable(tmp_path / "exe", elfclass, little, machine, base=0x10000)
    exe = read_executable(tmp_path / "exe")
    stub = fake_stub(exe)
    plan = plan_patch(exe, stub, ("ld.so",))
    apply_plan(plan, str(tmp_path / "exe"), str(tmp_path / "patched"))
    data = (tmp_path / "patched").read_bytes()
    at = plan.segment.offset + stub.config_offset
    config_vaddr, entry, dynamic = struct.unpack_from("<QQQ" if little else ">QQQ", data, at)
    assert (config_vaddr, entry, dynamic) == (plan.segment.vaddr + stub.config_offset, exe.entry, 0)
    assert entry > 0xFFFF  # not a value that reads the same in either byte order


@pytest.mark.parametrize("elfclass,little,machine", LAYOUTS)
@pytest.mark.parametrize("align", [0x1000, 0x10000, 0x200000])
def test_stub_segment_is_congruent_with_its_offset_without_padding_the_file(tmp_path, align, elfclass, little,
                                                                              machine):
    synthetic_executable(tmp_path / "exe", elfclass, little, machine, align=align)
    exe = read_executable(tmp_path / "exe")
    segment = plan_patch(exe, fake_stub(exe), ("ld.so",)).segment
    assert segment.align == align
    assert segment.vaddr % align == segment.offset % align
    assert segment.vaddr >= exe.loads()[-1].end
    assert 0 <= segment.offset - exe.file_size < SEGMENT_FILE_ALIGN


@pytest.mark.parametrize("candidates,reason", [
    ((), "no loader candidate given"),
    (("x" * (MAX_CANDIDATE_BYTES + 1),), f"at most {MAX_CANDIDATE_BYTES}: x"),
    (("ld.so",) * (MAX_CANDIDATES + 1), f"at most {MAX_CANDIDATES}"),
    (("",), "invalid loader path"),
])
def test_candidates_that_cannot_be_stored_are_refused(tmp_path, candidates, reason):
    synthetic_executable(tmp_path / "exe", 64, True, "EM_X86_64")
    exe = read_executable(tmp_path / "exe")
    with pytest.raises(CandidateError, match=reason) as error:
        plan_patch(exe, fake_stub(exe), candidates)
    assert str(error.value).startswith(f"{exe.path}: ")


def test_a_config_too_large_to_be_found_again_is_refused(tmp_path):
    # The stub segment records the original program headers: with ~19000 of them it would
    # pass the size up to which a patched file is recognised as one.
    synthetic_executable(tmp_path / "exe", 64, True, "EM_X86_64", null_phdrs=19000)
    exe = read_executable(tmp_path / "exe")
    with pytest.raises(UnsupportedError, match=f"the stub segment would be .* bytes .*, at most {MAX_STUB_SEGMENT}"):
        plan_patch(exe, fake_stub(exe), ("ld.so",))


@pytest.mark.parametrize("little,machine", [(True, "EM_386"), (False, "EM_PPC")])
def test_32_bit_program_with_no_room_above_it_is_refused(tmp_path, little, machine):
    synthetic_executable(tmp_path / "exe", 32, little, machine, base=0xFFFFF000)
    exe = read_executable(tmp_path / "exe")
    with pytest.raises(UnsupportedError, match="no room for the stub above the program's segments in a "
                                               "32-bit address space") as error:
        plan_patch(exe, fake_stub(exe), ("ld.so",))
    assert str(error.value).startswith(f"{exe.path}: ")
