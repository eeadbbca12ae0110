"""The patch changes only what it must: the ELF header, the program header table, and
what it adds; everything the program and its tools rely on stays as it was.  The stub
goes right after the loaded part of the file; what is not loaded (debug info, symbol
tables) moves after it, byte for byte, every section in it still aligned.  On x86_64
programs and on s390x ones, which are big-endian: every reader, the writer and the
restore record work in the file's byte order."""

from __future__ import annotations

import os
import shutil
import stat

import lief
import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.hash import ELFHashTable, GNUHashTable

from conftest import LOADER_REL, relinterp, run, sha256
from relinterp.elf.record import ALIGN
from relinterp.elf.executable import read_executable
from relinterp.rewrite.plan import SEGMENT_FILE_ALIGN
from relinterp.rewrite.stub import stub_for


@pytest.fixture(params=[("x86_64", "probe"), ("x86_64", "probe-nopie"), ("s390x", "probe"), ("s390x", "probe-nopie")],
                ids=["pie", "nopie", "s390x-pie", "s390x-nopie"])
def pair(request, tmp_path):
    """(original, patched) copies of a real program."""
    arch, name = request.param
    built = request.getfixturevalue("programs" if arch == "x86_64" else "musl_cross_build")
    program = built[name] if arch == "x86_64" else built(arch)[name]
    original = tmp_path / "original"
    patched = tmp_path / "patched"
    shutil.copy2(program, original)
    result = relinterp("patch", original, "--loader-rel", LOADER_REL, "-o", patched)
    assert result.returncode == 0, result.stderr
    return original, patched


# binutils for the machine of each pair.
STRIP = {"EM_X86_64": "strip", "EM_S390": "s390x-linux-gnu-strip"}


def stub_of(path):
    exe = read_executable(path)
    return stub_for(exe.machine, exe.elfclass, exe.little_endian)


def header_ranges(path) -> list[range]:
    exe = read_executable(path)
    return [range(0, len(exe.header)), range(exe.phoff, exe.phoff + len(exe.phdrs))]


def loaded_end(path) -> int:
    """Where the bytes the program's segments name end (pyelftools' reading)."""
    with open(path, "rb") as f:
        return max(s["p_offset"] + s["p_filesz"] for s in ELFFile(f).iter_segments())


def test_original_bytes_change_only_in_the_elf_header_and_phdr_table(pair):
    original, patched = pair
    old, new = original.read_bytes(), patched.read_bytes()
    assert len(new) > len(old)
    cut = loaded_end(original)
    allowed = header_ranges(original)
    changed = [i for i in range(cut) if old[i] != new[i]]
    assert changed, "the headers must change"
    assert all(any(i in r for r in allowed) for i in changed)
    record = read_executable(patched).patch.config.restore
    assert record.moved_from == cut < len(old)  # the rest, not loaded, moved after the stub, byte for byte
    assert new[record.moved_to : record.moved_to + len(old) - cut] == old[cut:]
    assert read_executable(patched).patch.segment.offset < record.moved_to


RENAMED = {".interp": ".interp.orig"}
# Rewritten after the stub, in the new section header table: what is appended to each.
APPENDED = {".shstrtab": b".interp.orig\0.text.relinterp\0", ".strtab": b"_dl_debug_state\0"}


def test_every_section_keeps_its_address_offset_and_content(pair):
    """...but for the tables the patch extends, and .interp, whose path is no longer the
    program's interpreter; sections not loaded move by one distance, a multiple of
    their alignment.  The stub's section comes after the loaded ones, before the rest,
    in the table and in the file (dwz, rpm's find-debuginfo need that order)."""
    original, patched = pair
    record = read_executable(patched).patch.config.restore
    distance = record.moved_to - record.moved_from
    with open(original, "rb") as a, open(patched, "rb") as b:
        old, new = ELFFile(a), ELFFile(b)
        assert new.num_sections() == old.num_sections() + 1
        sections = list(new.iter_sections())[1:]
        loaded = [bool(s["sh_flags"] & 0x2) for s in sections]
        assert loaded == sorted(loaded, reverse=True)  # every loaded section first
        stub = new.get_section_by_name(".text.relinterp")
        assert all(s["sh_offset"] > stub["sh_offset"] for s, is_loaded in zip(sections, loaded) if not is_loaded)
        for section in old.iter_sections():
            if section.name == "":
                continue
            twin = new.get_section_by_name(RENAMED.get(section.name, section.name))
            if section.name in APPENDED:
                assert twin.data() == section.data() + APPENDED[section.name]
                continue
            if section.name == ".symtab":  # one symbol more, on the stub's _dl_debug_state
                assert [s.name for s in twin.iter_symbols()][-1] == "_dl_debug_state"
                for was, now in zip(section.iter_symbols(), twin.iter_symbols()):  # each names the same section
                    assert (was.name, was["st_value"], was["st_info"]) == (now.name, now["st_value"], now["st_info"])
                    if isinstance(was["st_shndx"], int):
                        named = old.get_section(was["st_shndx"]).name
                        assert new.get_section(now["st_shndx"]).name == RENAMED.get(named, named)
                    else:
                        assert now["st_shndx"] == was["st_shndx"]
                continue
            moved = 0 if section["sh_flags"] & 0x2 else distance
            assert moved % max(section["sh_addralign"], 1) == 0
            assert twin["sh_offset"] == section["sh_offset"] + moved, section.name
            for field in ("sh_type", "sh_flags", "sh_addr", "sh_size", "sh_info"):
                assert twin[field] == section[field], (section.name, field)
            linked = old.get_section(section["sh_link"]).name
            assert new.get_section(twin["sh_link"]).name == RENAMED.get(linked, linked)
            assert twin.data() == section.data(), section.name


def test_stub_segment_is_last_above_everything_and_congruent(pair):
    original, patched = pair
    old, new = read_executable(original), read_executable(patched)
    assert len(new.segments) == len(old.segments)
    assert new.interp is None and old.interp is not None
    kept = [s for s in old.segments if s.type != "PT_INTERP"]
    assert [(s.type, s.vaddr, s.offset, s.memsz) for s in new.segments[:-1]] == \
           [(s.type, s.vaddr, s.offset, s.memsz) for s in kept]
    stub = new.segments[-1]
    assert stub.type == "PT_LOAD" and stub.flags == 5  # R+X
    align = max(s.align for s in old.loads())
    assert stub.align == align
    assert stub.vaddr >= max(s.end for s in old.loads())
    assert stub.vaddr % align == stub.offset % align
    assert new.entry == stub.vaddr + stub_of(patched).entry_offset


def test_relinterp_section_covers_the_stub_so_strip_keeps_it(pair, tmp_path):
    _, patched = pair
    with open(patched, "rb") as f:
        elf = ELFFile(f)
        section = elf.get_section_by_name(".text.relinterp")
        segment = elf.get_segment(elf.num_segments() - 1)
        assert section["sh_flags"] == 0x6  # SHF_ALLOC | SHF_EXECINSTR
        assert (section["sh_offset"], section["sh_size"], section["sh_addr"]) == \
               (segment["p_offset"], segment["p_filesz"], segment["p_vaddr"])
    stripped = tmp_path / "stripped"
    assert run([STRIP[read_executable(patched).machine], "-o", stripped, patched]).returncode == 0
    assert read_executable(stripped).patch.stub_code == stub_of(patched).code


def test_file_grows_by_the_stub_and_its_section_tables_only(pair):
    original, patched = pair
    old, new = read_executable(original), read_executable(patched)
    segment = new.patch.segment
    with open(original, "rb") as f:
        elf = ELFFile(f)
        tables = sum(elf.get_section_by_name(name).data_size + len(APPENDED.get(name, b""))
                     for name in (".shstrtab", ".strtab", ".symtab"))
        tables += elf.get_section_by_name(".symtab")["sh_entsize"]
    section_table = len(new.section_headers)
    padding = new.file_size - old.file_size - segment.filesz - tables - section_table
    assert 0 <= padding < SEGMENT_FILE_ALIGN + 4 * ALIGN  # alignment only (the tail's is 8): no page padding
    assert segment.filesz - len(stub_of(patched).code) < 1024 + len(old.phdrs)  # config + record


def test_patched_file_parses_with_pyelftools_and_lief(pair):
    _, patched = pair
    with open(patched, "rb") as f:
        elf = ELFFile(f)
        assert ".text.relinterp" in [s.name for s in elf.iter_sections()]
        assert not any(s["p_type"] == "PT_INTERP" for s in elf.iter_segments())
    binary = lief.parse(str(patched))
    assert binary is not None
    assert binary.entrypoint == read_executable(patched).entry
    assert binary.get_section(".text.relinterp").size == read_executable(patched).patch.segment.filesz
    assert not binary.has_interpreter


def defined_dynamic_symbols(elf: ELFFile) -> list[str]:
    dynsym = elf.get_section_by_name(".dynsym")
    return [s.name for s in dynsym.iter_symbols() if s.name and s["st_shndx"] != "SHN_UNDEF"]


def hash_tables(elf: ELFFile):
    dynamic = next(elf.iter_segments("PT_DYNAMIC"))
    # s390x's DT_HASH words are 64-bit (sh_entsize 8), which pyelftools reads as 32-bit:
    # there, only the GNU table is looked up (and .hash is compared byte for byte above).
    tags = ("DT_GNU_HASH",) if elf["e_machine"] == "EM_S390" else ("DT_GNU_HASH", "DT_HASH")
    for tag, table in (("DT_GNU_HASH", GNUHashTable), ("DT_HASH", ELFHashTable)):
        if tag not in tags:
            continue
        _, offset = dynamic.get_table_offset(tag)
        if offset is not None:
            yield table(elf, offset, dynamic) if table is GNUHashTable else table(elf, offset, None, dynamic)


def test_every_defined_dynamic_symbol_is_found_through_its_hash_tables(pair):
    original, patched = pair
    with open(original, "rb") as f:
        names = defined_dynamic_symbols(ELFFile(f))
    assert len(names) >= 8  # -rdynamic: the probe exports its own symbols
    with open(patched, "rb") as f:
        elf = ELFFile(f)
        tables = list(hash_tables(elf))
        assert {type(t) for t in tables} == ({GNUHashTable} if elf["e_machine"] == "EM_S390"
                                             else {GNUHashTable, ELFHashTable})
        for table in tables:
            for name in names:
                assert table.get_symbol(name) is not None, (type(table).__name__, name)
            assert table.get_symbol("no_such_symbol_here") is None


def test_restore_gives_back_the_exact_input(pair, tmp_path):
    original, patched = pair
    restored = tmp_path / "restored"
    result = relinterp("restore", patched, "-o", restored)
    assert result.returncode == 0, result.stderr
    assert sha256(restored) == sha256(original)
    assert relinterp("restore", patched).returncode == 0  # in place, too
    assert sha256(patched) == sha256(original)


def test_patching_again_with_the_same_options_touches_nothing(pair):
    _, patched = pair
    before = os.stat(patched)
    digest = sha256(patched)
    result = relinterp("patch", patched, "--loader-rel", LOADER_REL)
    assert result.returncode == 0
    assert "already patched" in result.stdout
    after = os.stat(patched)
    assert (after.st_mtime_ns, after.st_ino, sha256(patched)) == (before.st_mtime_ns, before.st_ino, digest)


def test_patching_with_other_options_starts_from_the_original(pair, tmp_path):
    original, patched = pair
    for i in range(5):
        assert relinterp("patch", patched, "--loader-rel", f"../lib{i}/ld.so").returncode == 0
    once = tmp_path / "once"
    assert relinterp("patch", original, "--loader-rel", "../lib4/ld.so", "-o", once).returncode == 0
    assert sha256(patched) == sha256(once)


def test_output_option_leaves_the_input_untouched_and_keeps_its_mode(programs, tmp_path):
    app = tmp_path / "app"
    shutil.copy2(programs["probe"], app)
    app.chmod(0o750)
    digest = sha256(app)
    out = tmp_path / "out"
    assert relinterp("patch", app, "--loader-rel", LOADER_REL, "-o", out).returncode == 0
    assert sha256(app) == digest
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app", "out"]  # no temporary left


def test_in_place_patch_through_a_symlink_patches_the_file_and_keeps_the_link(programs, tmp_path):
    app = tmp_path / "app"
    shutil.copy2(programs["probe"], app)
    link = tmp_path / "link"
    link.symlink_to(app)
    assert relinterp("patch", link, "--loader-rel", LOADER_REL).returncode == 0
    assert link.is_symlink()
    assert read_executable(app).patch is not None
