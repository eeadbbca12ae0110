"""Hostile and broken ELF files: a refusal by name (`PATH: reason`, status 1 or 3, the
file byte-identical) or a correct result, never an internal error; and every read
bounded, whatever the file claims."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import relinterp
from conftest import LOADER_REL, relinterp as relinterp_cli, sha256
from hostile_support import (DT_NULL, DT_RUNPATH, DT_STRSZ, DT_STRTAB, PT_DYNAMIC, PT_INTERP, PT_LOAD, PT_NOTE, SHDR,
                             SHT_SYMTAB, copied)
from relinterp.errors import EXIT_FAILED, RelinterpError

MIB = 1 << 20
PEAK_RSS_MIB = 64  # what a relinterp process may take, whatever the input (docs/robustness.md)
GNU_STACK = 0x6474E551


def outcomes(path: Path) -> dict[str, object]:
    """inspect, patch -n, patch -o and restore -o through the Python API: each result,
    or the relinterp.errors refusal it raised (anything else fails the test).  The file
    is unchanged after each, and no other file appears beside it."""
    before, neighbours = path.read_bytes(), sorted(os.listdir(path.parent))
    out = path.parent / "out"
    done: dict[str, object] = {}
    operations = {
        "inspect": lambda: relinterp.inspect(path),
        "patch -n": lambda: relinterp.patch(path, loader_rel=LOADER_REL, dry_run=True),
        "patch -o": lambda: relinterp.patch(path, loader_rel=LOADER_REL, output=out),
        "restore -o": lambda: relinterp.restore(path, output=out),
    }
    for name, operation in operations.items():
        try:
            done[name] = operation()
        except RelinterpError as error:
            assert str(error).startswith(f"{path}: ") and "\n" not in str(error), str(error)
            assert error.exit_code in (1, 3)
            done[name] = error
        if out.exists():
            out.unlink()
        assert path.read_bytes() == before, name
        assert sorted(os.listdir(path.parent)) == neighbours, name
    return done


def refused_patch(path: Path, reason: str) -> None:
    """`relinterp patch` refuses `path` with "path: reason...", status 1, and every
    other operation ends cleanly too."""
    result = outcomes(path)["patch -n"]
    assert isinstance(result, RelinterpError), result
    assert result.reason.startswith(reason), result.reason
    digest = sha256(path)
    cli = relinterp_cli("patch", path, "--loader-rel", LOADER_REL)
    assert (cli.returncode, cli.stderr) == (EXIT_FAILED, f"{path}: {result.reason}\n")
    assert sha256(path) == digest


@pytest.mark.parametrize("field, value", [("p_align", (1 << 64) - 1), ("p_vaddr", 0xFFFF_FFFF_FFFF_F000),
                                          ("p_memsz", (1 << 64) - 0x1000)])
def test_a_last_segment_at_the_top_of_the_address_space_leaves_no_room(programs, tmp_path, field, value):
    edit = copied(programs["probe"], tmp_path / "app")
    load, dynamic = (edit.layout.segment(edit.segment_entry(kind, -1)) for kind in (PT_LOAD, PT_DYNAMIC))
    if field == "p_memsz":  # up to 4 KiB below the top: less than the stub needs
        value -= load["p_vaddr"]
    edit.segment(PT_LOAD, field, value, nth=-1)
    if field == "p_vaddr":  # PT_DYNAMIC is in that segment: it moves with it
        edit.segment(PT_DYNAMIC, "p_vaddr", value + dynamic["p_vaddr"] - load["p_vaddr"])
    refused_patch(edit.save(), "no room for the stub")


def test_a_segment_past_the_end_of_the_address_space_is_malformed(programs, tmp_path):
    app = copied(programs["probe"], tmp_path / "app").segment(PT_LOAD, "p_memsz", (1 << 64) - 1, nth=-1).save()
    refused_patch(app, "segment")
    assert "ends past the 64-bit address space" in str(outcomes(app)["inspect"])


def test_two_interpreters_are_refused_not_half_removed(programs, tmp_path):
    edit = copied(programs["probe"], tmp_path / "app")
    app = edit.copy_entry(edit.segment_entry(PT_INTERP), edit.segment_entry(GNU_STACK)).save()
    refused_patch(app, "2 PT_INTERP entries")


def test_an_interpreter_path_without_its_nul_is_malformed(programs, tmp_path):
    edit = copied(programs["probe"], tmp_path / "app")
    interp = edit.layout.segment(edit.segment_entry(PT_INTERP))
    edit.data[interp["p_offset"] + interp["p_filesz"] - 1] = ord("x")
    app = edit.save()
    refused_patch(app, "PT_INTERP is not a NUL-terminated path")
    assert isinstance(outcomes(app)["inspect"], RelinterpError)


def test_a_symbol_table_over_the_headers_still_restores_exactly(programs, tmp_path):
    """The patch rewrites the headers: a table read from there would read differently in
    the patched file, and restore could no longer tell the original (found by the fuzzer)."""
    edit = copied(programs["probe"], tmp_path / "app")
    layout = edit.layout
    symtab = next(at for at in layout.shdrs() if layout.read(layout.fields_at(SHDR, at)[1]) == SHT_SYMTAB)
    app = edit.put(next(f for f in layout.fields_at(SHDR, symtab) if f.name == "sh_offset"), 0x10).save()
    before = sha256(app)
    assert relinterp_cli("patch", app, "--loader-rel", LOADER_REL).returncode == 0
    result = relinterp_cli("restore", app)
    assert (result.returncode, result.stderr) == (0, "")
    assert sha256(app) == before


def test_a_huge_symbol_table_is_copied_in_bounded_memory(programs, tmp_path):
    """The patch gives the file a copy of its .symtab with `_dl_debug_state` appended: a
    table of 96 MiB (unstripped programs reach tens of megabytes) is copied by the
    kernel, not through relinterp's memory, and the copy holds the original's bytes."""
    edit = copied(programs["probe"], tmp_path / "app")
    symbols = bytes(range(24)) * (4 * MIB)  # 96 MiB of 24-byte entries, not all zero
    offset = len(edit.data)
    edit.data += symbols
    layout = edit.layout
    symtab = next(at for at in layout.shdrs() if layout.read(layout.fields_at(SHDR, at)[1]) == SHT_SYMTAB)
    fields = {f.name: f for f in layout.fields_at(SHDR, symtab)}
    app = edit.put(fields["sh_offset"], offset).put(fields["sh_size"], len(symbols)).save()
    out = tmp_path / "out"
    assert peak_rss_mib([sys.executable, "-m", "relinterp", "patch", app, "--loader-rel", LOADER_REL,
                         "-o", out]) <= PEAK_RSS_MIB
    assert out.read_bytes()[len(edit.data):].find(symbols[:MIB]) >= 0
    assert relinterp_cli("restore", out).returncode == 0 and sha256(out) == sha256(app)


def test_a_dynamic_segment_no_load_segment_maps_is_refused(programs, tmp_path):
    """The stub reads DT_DEBUG through PT_DYNAMIC's address: unmapped, it would fault."""
    app = copied(programs["probe"], tmp_path / "app").segment(PT_DYNAMIC, "p_vaddr", 0x7000_0000).save()
    refused_patch(app, "PT_DYNAMIC is not in a PT_LOAD segment")


def test_a_dynamic_table_without_dt_null_is_malformed(programs, tmp_path):
    edit = copied(programs["probe"], tmp_path / "app")
    layout = edit.layout
    for at in layout.dynamic_entries():
        tag, value = layout.dynamic_fields(at)
        if layout.read(tag) == DT_NULL:
            edit.put(tag, PT_NOTE).put(value, 1)  # an unknown tag instead of the terminator
    app = edit.save()
    refused_patch(app, "dynamic table has no DT_NULL")


def test_a_section_count_that_would_overflow_is_refused(programs, tmp_path):
    """The sections the patch adds would need e_shnum past 0xff00 (extended numbering)."""
    edit = copied(programs["probe"], tmp_path / "app")
    count, entry = 0xFEFF, 64
    table = bytes(edit.data[edit.layout.header("e_shoff"):][: edit.layout.header("e_shnum") * entry])
    edit.header("e_shoff", len(edit.data)).header("e_shnum", count)
    edit.data += table + bytes(count * entry - len(table))
    app = edit.save()
    refused_patch(app, f"{count} sections: with the patch's the section header table would need extended numbering")


def test_a_stub_segment_moved_in_memory_is_a_changed_patched_file(programs, tmp_path):
    edit = copied(programs["probe"], tmp_path / "app")
    assert relinterp_cli("patch", edit.path, "--loader-rel", LOADER_REL).returncode == 0
    edit = copied(edit.path, tmp_path / "moved")
    stub = edit.layout.segment(edit.segment_entry(PT_LOAD, -1))
    app = edit.segment(PT_LOAD, "p_vaddr", stub["p_vaddr"] + 0x100000, nth=-1).save()
    done = outcomes(app)
    assert done["inspect"].patch is not None and not done["inspect"].patch.exact_restore
    assert isinstance(done["patch -n"], RelinterpError)


def test_a_runpath_without_its_nul_is_given_up_at_the_cap(programs, tmp_path):
    """DT_STRTAB moved to 4 MiB of non-NUL bytes: the string is refused at the cap (the
    reader once re-copied what it had for every 256 bytes read: 16 s for 4 MiB)."""
    edit = copied(programs["probe"], tmp_path / "app")
    _, strtab = edit.append_mapped(b"A" * (4 * MIB))
    edit.put(edit.dynamic(DT_STRTAB)[1], strtab).put(edit.dynamic(DT_STRSZ)[1], 4 * MIB)
    app = edit.put(edit.dynamic(DT_RUNPATH)[1], 0).save()
    result = outcomes(app)["inspect"]
    assert isinstance(result, RelinterpError) and "longer than" in result.reason, result


# Forks and runs argv from a small fresh process: a child's peak RSS counts what it had
# before exec, so forked from the test's process it would count the test's memory.
MEASURE_RSS = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
print(os.wait4(pid, 0)[2].ru_maxrss)
"""


def peak_rss_mib(argv) -> float:
    """Run argv; the peak resident set of that process alone (the last line printed,
    after whatever argv prints)."""
    result = subprocess.run([sys.executable, "-c", MEASURE_RSS, *map(str, argv)], capture_output=True, text=True)
    return int(result.stdout.split()[-1]) / 1024


def test_a_huge_dynamic_segment_is_read_in_bounded_memory(programs, tmp_path):
    """PT_DYNAMIC over 96 MiB of entries with no DT_NULL: refused, in bounded memory
    (the whole table was once read and kept: 1.15 GB for 120 MB)."""
    edit = copied(programs["probe"], tmp_path / "app")
    offset, vaddr = edit.append_mapped(b"\x01" * (96 * MIB))
    edit.segment(PT_DYNAMIC, "p_offset", offset).segment(PT_DYNAMIC, "p_vaddr", vaddr)
    app = edit.segment(PT_DYNAMIC, "p_filesz", 96 * MIB).segment(PT_DYNAMIC, "p_memsz", 96 * MIB).save()
    for command in ("inspect", "restore"):
        assert peak_rss_mib([sys.executable, "-m", "relinterp", command, app]) <= PEAK_RSS_MIB
    refused_patch(app, "dynamic table has no DT_NULL")
