"""Tampered or odd records and layouts: each is refused before anything is written (the
input byte for byte as it was, no output made), or handled exactly.  The files are real
programs with one thing changed, found with the fuzzer's struct-only reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import LOADER_REL, relinterp, run, sha256
from hostile_support import PT_INTERP, PT_LOAD, SHDR, SHT_SYMTAB, Edit, Layout, copied
from interop_support import tool

MUSL_INTERP = b"/lib/ld-musl-x86_64.so.1\0"


def unchanged_after(path: Path, *args: str, status: int = 1) -> str:
    """Run relinterp on `path`; it must fail with `status`, change nothing and leave
    nothing beside it; its stderr."""
    before, neighbours = sha256(path), sorted(p.name for p in path.parent.iterdir())
    result = relinterp(*args)
    assert result.returncode == status, result.stdout + result.stderr
    assert result.stderr.startswith(f"{path}: ") and "Traceback" not in result.stderr
    assert result.stdout == "" or "--json" in args and '"exit_code": 1' in result.stdout
    assert sha256(path) == before
    assert sorted(p.name for p in path.parent.iterdir()) == neighbours
    return result.stderr


def patched_copy(programs, tmp_path: Path, name: str = "hello") -> Edit:
    app = tmp_path / "app"
    app.write_bytes(programs[name].read_bytes())
    app.chmod(0o755)
    assert relinterp("patch", app, "--loader-rel", LOADER_REL).returncode == 0
    return Edit(app)


def record_interp_at(edit: Edit) -> int:
    """File offset of the original interpreter path the restore record keeps as a fact."""
    block = edit.layout.config_block()
    found = edit.data.find(MUSL_INTERP, block)
    assert found > 0
    return found


def original_interp_at(edit: Edit) -> int:
    """File offset of the original PT_INTERP bytes, which the patch leaves in place."""
    found = edit.data.find(MUSL_INTERP)
    assert 0 < found < edit.layout.config_block()
    return found


def test_a_program_whose_interpreter_starts_with_nul_is_refused(programs, tmp_path):
    edit = copied(programs["hello"], tmp_path / "app")
    edit.data[edit.layout.segment(edit.segment_entry(PT_INTERP))["p_offset"]] = 0
    app = edit.save()
    stderr = unchanged_after(app, "patch", app, "--loader-rel", LOADER_REL)
    assert "PT_INTERP is an empty path (its first byte is NUL)" in stderr


def test_restore_refuses_before_writing_when_no_working_interpreter_can_be_made(programs, tmp_path):
    """A record whose interpreter is empty, in a file stripped after patching: restore
    cannot give a working program back, and says so with the input untouched and no -o
    output made (it once wrote a 1-byte PT_INTERP, then refused to read its own result)."""
    edit = patched_copy(programs, tmp_path)
    edit.data[record_interp_at(edit)] = 0
    edit.data[original_interp_at(edit)] = 0
    app = edit.save()
    assert run([tool("strip"), app]).returncode == 0
    out = tmp_path / "out"
    for args in (["restore", app], ["restore", app, "-o", out], ["restore", "--json", app]):
        stderr = unchanged_after(app, *args)
        assert "the original interpreter path is empty" in stderr, stderr
        assert not out.exists()


def test_exact_restore_reports_the_interpreter_it_wrote_not_a_tampered_record(programs, tmp_path):
    edit = patched_copy(programs, tmp_path)
    at = record_interp_at(edit)
    edit.data[at : at + len(MUSL_INTERP)] = b"/lib/ld-evil-x86_64.so.1\0"  # as long: the record keeps its layout
    app = edit.save()
    shown = relinterp("inspect", app)
    assert "  original interpreter: /lib/ld-musl-x86_64.so.1\n" in shown.stdout, shown.stdout
    result = relinterp("restore", "--json", app)
    assert result.returncode == 0, result.stderr
    assert '"interpreter": "/lib/ld-musl-x86_64.so.1"' in result.stdout
    assert sha256(app) == sha256(programs["hello"])


def test_restore_does_not_take_the_interpreter_path_from_the_program_headers_it_rewrites(programs, tmp_path):
    """The original path gone from where it was, and found instead inside an entry of the
    program header table (a PT_NULL holding it): that table is what restore rewrites, so
    the path there would not survive the write.  It is not taken: restore refuses."""
    edit = patched_copy(programs, tmp_path)
    app = edit.save()
    assert run([tool("strip"), app]).returncode == 0
    edit = Edit(app)
    edit.data[original_interp_at(edit) : original_interp_at(edit) + len(MUSL_INTERP)] = bytes(len(MUSL_INTERP))
    entries = edit.layout.phdrs()
    note = next(at for at in entries if edit.layout.segment(at)["p_type"] not in (PT_LOAD, 6, 2))  # not PHDR, DYNAMIC
    edit.data[note : note + 56] = bytes(4) + MUSL_INTERP + bytes(56 - 4 - len(MUSL_INTERP))  # PT_NULL, p_filesz 0
    app = edit.save()
    stderr = unchanged_after(app, "restore", app)
    assert "is no longer in the program's memory image: cannot restore" in stderr, stderr


def test_a_section_name_index_naming_the_symbol_table_is_refused(programs, tmp_path):
    edit = copied(programs["hello"], tmp_path / "app")
    layout = edit.layout
    symtab = next(i for i, at in enumerate(layout.shdrs())
                  if layout.read(next(f for f in layout.fields_at(SHDR, at) if f.name == "sh_type")) == SHT_SYMTAB)
    app = edit.header("e_shstrndx", symtab).save()
    stderr = unchanged_after(app, "patch", app, "--loader-rel", LOADER_REL)
    assert f"e_shstrndx {symtab} names a section of type 2, not the section name table" in stderr
    assert relinterp("inspect", app).returncode == 0  # reading it is no problem


def test_a_program_header_table_overlapping_the_elf_header_is_refused(programs, tmp_path):
    """The table moved 8 bytes into the ELF header (its first entry's type and flags are
    then e_phnum ... e_shstrndx): the patch would write both, one over the other."""
    edit = copied(programs["hello"], tmp_path / "app")
    layout = edit.layout
    entries = [bytes(edit.data[at : at + 56]) for at in layout.phdrs()]
    kept = [e for e in entries if int.from_bytes(e[:4], "little") != 0x6474E552]  # PT_GNU_RELRO goes
    assert len(kept) == len(entries) - 1
    phdr = next(i for i, e in enumerate(kept) if int.from_bytes(e[:4], "little") == 6)
    kept[phdr] = kept[phdr][:8] + (0x38).to_bytes(8, "little") * 3 + (56 * len(entries)).to_bytes(8, "little") * 2 \
        + kept[phdr][48:]
    edit.data[0x40 : 0x38 + 56 * len(entries)] = bytes(48) + b"".join(kept)
    app = edit.header("e_phoff", 0x38).save()
    assert Layout(app.read_bytes()).header("e_phnum") == len(entries)
    stderr = unchanged_after(app, "patch", app, "--loader-rel", LOADER_REL)
    assert "the program header table (e_phoff=0x38) overlaps the ELF header (64 bytes)" in stderr, stderr
