"""The one ELF model: what it reads from the headers and the dynamic table, for patch and
bundle alike, on files built in Python for every class and byte order."""

from __future__ import annotations

import pytest
from elftools.elf import enums

from relinterp.elf import structs
from relinterp.elf.executable import read_executable
from relinterp.elf.linked import read_linked_object
from relinterp.elf.model import elf_ident
from relinterp.elf.searchlist import RPATH, RUNPATH, origin_relative, search_list, split_list
from relinterp.errors import MalformedElfError, NotElfError, ReadError
from synthetic import INTERP, LAYOUTS, synthetic_executable

DYNAMIC = [("DT_NEEDED", "libfoo.so.1"), ("DT_NEEDED", "libc.so"), ("DT_SONAME", "libself.so"),
           ("DT_RUNPATH", "$ORIGIN/../lib:/opt/lib"), ("DT_RPATH", "/old"), ("DT_FLAGS_1", 0x08000800),
           (36, 0)]  # DT_RELR (older pyelftools have no name for it)


@pytest.mark.parametrize("elfclass,little,machine", LAYOUTS)
def test_the_dynamic_table_is_read_from_pt_dynamic(tmp_path, elfclass, little, machine):
    synthetic_executable(tmp_path / "exe", elfclass, little, machine, base=0x400000, dynamic=DYNAMIC)
    exe = read_executable(tmp_path / "exe")
    assert exe.has_dynamic and exe.dynamic > 0x400000
    assert exe.needed == ("libfoo.so.1", "libc.so")
    assert (exe.soname, exe.runpath, exe.rpath) == ("libself.so", "$ORIGIN/../lib:/opt/lib", "/old")
    assert (exe.pie, exe.nodeflib, exe.relr) == (True, True, True)
    assert exe.interp == INTERP.rstrip(b"\0").decode()


@pytest.mark.parametrize("elfclass,little,machine", LAYOUTS)
def test_a_string_table_across_two_segments_is_read_whole_as_the_loader_sees_it(tmp_path, elfclass, little,
                                                                                 machine):
    synthetic_executable(tmp_path / "exe", elfclass, little, machine, base=0x400000, dynamic=DYNAMIC,
                         split_strings=True)
    exe = read_executable(tmp_path / "exe")
    loads = exe.loads()
    assert len(loads) == 2 and loads[0].vaddr + loads[0].filesz == loads[1].vaddr  # adjacent, the table across
    assert exe.needed == ("libfoo.so.1", "libc.so")
    assert (exe.soname, exe.runpath, exe.rpath) == ("libself.so", "$ORIGIN/../lib:/opt/lib", "/old")


def test_the_memory_image_maps_file_bytes_then_zeros_and_nothing_between_segments():
    import io

    from relinterp.elf.image import MemoryImage, Piece
    from relinterp.elf.model import Segment

    def load(offset, vaddr, filesz, memsz):
        return Segment(0, "PT_LOAD", 5, offset, vaddr, filesz, memsz, 0x1000)

    file = io.BytesIO(bytes(range(256)) * 64)
    # [0x1000, 0x1100) from 0x100, zeros to 0x1200; [0x1200, 0x1300) from 0x300; a gap; [0x2000, 0x2010) from 0x10.
    image = MemoryImage([load(0x10, 0x2000, 0x10, 0x10), load(0x100, 0x1000, 0x100, 0x200),
                         load(0x300, 0x1200, 0x100, 0x100)])
    assert list(image.pieces(0x10F0, 0x220)) == [Piece(0x1F0, 0x10), Piece(None, 0x100), Piece(0x300, 0x100)]
    assert image.read(file, 0x10FE, 4) == bytes([0xFE, 0xFF, 0, 0])
    assert image.read(file, 0x12FE, 8) == bytes([0xFE, 0xFF])  # stops where nothing is mapped
    assert image.mapped(0x1000, 0x300) and not image.mapped(0x1000, 0x301) and not image.mapped(0x1FFF)
    assert image.file_range(0x1010, 0x10) == 0x110 and image.file_range(0x10F0, 0x20) is None
    contiguous = MemoryImage([load(0, 0x400000, 0x1000, 0x1000), load(0x1000, 0x401000, 0x800, 0x800)])
    assert contiguous.file_range(0x400FF0, 0x20) == 0xFF0  # across two segments, one stretch of the file
    assert [(r.vaddr, r.offset, r.size) for r in contiguous.file_runs()] == [(0x400000, 0, 0x1800)]
    assert [(r.vaddr, r.size) for r in image.file_runs()] == [(0x1000, 0x100), (0x1200, 0x100), (0x2000, 0x10)]


@pytest.mark.parametrize("elfclass,little,machine", LAYOUTS)
def test_the_loaders_view_is_the_same_model(tmp_path, elfclass, little, machine):
    synthetic_executable(tmp_path / "exe", elfclass, little, machine, dynamic=DYNAMIC)
    obj = read_linked_object(tmp_path / "exe")
    exe = read_executable(tmp_path / "exe")
    assert obj.model == exe
    assert (obj.machine, obj.elfclass, obj.little_endian, obj.elf_type) == (machine, elfclass, little, "ET_DYN")
    assert (obj.soname, obj.needed, obj.search_path, obj.relr, obj.pie) == (
        "libself.so", ("libfoo.so.1", "libc.so"), "$ORIGIN/../lib:/opt/lib", True, True)
    assert (obj.interp, obj.patched, obj.is_program) == (exe.interp, False, True)


def test_a_file_without_dynamic_entries_has_none(tmp_path):
    synthetic_executable(tmp_path / "exe", 64, True, "EM_X86_64")
    obj = read_linked_object(tmp_path / "exe")
    assert (obj.has_dynamic, obj.needed, obj.soname, obj.search_path, obj.relr) == (False, (), None, None, False)
    assert (obj.version_needs, obj.version_defs) == ((), ())


@pytest.mark.parametrize("elfclass,little,machine", LAYOUTS)
def test_elf_ident_agrees_with_the_model(tmp_path, elfclass, little, machine):
    synthetic_executable(tmp_path / "exe", elfclass, little, machine)
    assert elf_ident(str(tmp_path / "exe")) == read_executable(tmp_path / "exe").abi == (machine, elfclass, little)
    (tmp_path / "text").write_text("#!/bin/sh\n")
    assert elf_ident(str(tmp_path / "text")) is None


@pytest.mark.parametrize("content, error, reason", [
    (b"#!/bin/sh\n", NotElfError, "not an ELF file"),
    (b"\x7fELF\x02\x01", MalformedElfError, "truncated ELF header"),
    (b"\x7fELF\x07\x01\x01" + bytes(57), MalformedElfError, r"invalid ELF class \(EI_CLASS=7\)"),
    (b"\x7fELF\x02\x05\x01" + bytes(57), MalformedElfError, r"invalid byte order \(EI_DATA=5\)"),
])
def test_what_is_not_a_readable_elf_file_is_refused_with_its_reason(tmp_path, content, error, reason):
    (tmp_path / "bad").write_bytes(content)
    for read in (read_executable, read_linked_object):
        with pytest.raises(error, match=reason):
            read(tmp_path / "bad")


def test_an_unreadable_file_is_a_read_error(tmp_path):
    with pytest.raises(ReadError, match="cannot read"):
        read_linked_object(tmp_path / "missing")


def test_value_names_are_pyelftools_names():
    """The command line prints e_machine, e_type and p_type as pyelftools names them;
    relinterp's own tables must say the same where they have a name."""
    machines = {number: name for name, number in enums.ENUM_E_MACHINE.items() if isinstance(number, int)}
    assert {n: machines[n] for n in structs.MACHINES} == structs.MACHINES
    assert all(structs.machine_name(n) == name for n, name in list(machines.items())[:60])
    assert structs.ELF_TYPES == {v: k for k, v in enums.ENUM_E_TYPE.items() if isinstance(v, int)}
    assert structs.SEGMENT_TYPES == {v: k for k, v in enums.ENUM_P_TYPE_BASE.items() if isinstance(v, int)}
    for machine, table in (("EM_ARM", enums.ENUM_P_TYPE_ARM), ("EM_AARCH64", enums.ENUM_P_TYPE_AARCH64),
                           ("EM_MIPS", enums.ENUM_P_TYPE_MIPS), ("EM_RISCV", enums.ENUM_P_TYPE_RISCV)):
        extra = {v: k for k, v in table.items() if isinstance(v, int) and v >= 0x70000000}
        assert structs.PROCESSOR_SEGMENT_TYPES[machine] == extra


@pytest.mark.parametrize("entry, directory", [
    ("$ORIGIN", ""), ("${ORIGIN}", ""), ("$ORIGIN/../lib", "../lib"), ("${ORIGIN}/lib/", "lib"),
    ("$ORIGIN/$LIB", None), ("$ORIGINAL/lib", None), ("/usr/lib", None), ("lib", None),
])
def test_origin_entries_name_a_directory_relative_to_the_object(entry, directory):
    assert origin_relative(entry) == directory


def test_runpath_wins_over_rpath_and_lists_split_on_colons_and_newlines():
    assert search_list("$ORIGIN", "/old") == (RUNPATH, "$ORIGIN")
    assert search_list(None, "/old") == (RPATH, "/old")
    assert search_list(None, None) == (None, None)
    assert split_list("a::b\nc:") == ["a", "b", "c"]
