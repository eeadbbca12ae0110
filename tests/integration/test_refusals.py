"""Bad input gets "PATH: reason", a documented exit status, and is left untouched."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from conftest import LOADER_REL, relinterp, run, sha256, unavailable
from relinterp.errors import EXIT_FAILED, EXIT_NOTHING_TO_DO, EXIT_USAGE

EXIT_START = "_start:\n  mov $60, %eax\n  xor %edi, %edi\n  syscall\n"
# A program header table outside every PT_LOAD: the linker script maps no headers.
NO_HEADERS_SCRIPT = """
PHDRS { interp PT_INTERP; text PT_LOAD; dynamic PT_DYNAMIC; }
SECTIONS {
  . = 0x400000 + SIZEOF_HEADERS;
  .interp : { *(.interp) } :text :interp
  .text : { *(.text) } :text
  .dynamic : { *(.dynamic) } :text :dynamic
  .dynsym : { *(.dynsym) } :text
  .dynstr : { *(.dynstr) } :text
  .hash : { *(.hash) } :text
}
"""


def assemble(tmp: Path, name: str, tools: str, as_flags: list, ld_flags: list, source: str,
             script: str | None = None) -> Path:
    """Link a tiny real program from assembly with the given binutils (prefix)."""
    if shutil.which(f"{tools}as") is None:
        unavailable(f"{tools}as missing (apt-get install binutils-aarch64-linux-gnu)")
    (tmp / f"{name}.s").write_text(f".text\n.globl _start\n{source}")
    assert run([f"{tools}as", *as_flags, "-o", tmp / f"{name}.o", tmp / f"{name}.s"]).returncode == 0
    if script:
        (tmp / f"{name}.ld").write_text(script)
        ld_flags = [*ld_flags, "-T", tmp / f"{name}.ld"]
    linked = run([f"{tools}ld", *ld_flags, "-o", tmp / name, tmp / f"{name}.o"])
    assert linked.returncode == 0, linked.stderr
    return tmp / name


def refused(path: Path, status: int, reason: str, *extra: str) -> None:
    """Patching `path` fails with `status` and "path: reason", and changes nothing."""
    before = sha256(path) if path.is_file() else None
    neighbours = sorted(p.name for p in path.parent.iterdir())
    result = relinterp("patch", path, "--loader-rel", LOADER_REL, *extra)
    assert result.returncode == status, result.stderr
    assert result.stderr.startswith(f"{path}: {reason}"), result.stderr
    assert result.stdout == ""
    if before is not None:
        assert sha256(path) == before
    assert sorted(p.name for p in path.parent.iterdir()) == neighbours  # no temporary left


def copy_of(programs, name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copy2(programs[name], target)
    return target


def test_text_file_is_not_an_elf_file(tmp_path):
    path = tmp_path / "script.sh"
    path.write_text("#!/bin/sh\necho hi\n")
    refused(path, EXIT_FAILED, "not an ELF file")


def test_empty_file_is_not_an_elf_file(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    refused(path, EXIT_FAILED, "not an ELF file")


def test_missing_file_says_it_cannot_be_read(tmp_path):
    result = relinterp("patch", tmp_path / "nope", "--loader-rel", LOADER_REL)
    assert result.returncode == EXIT_FAILED
    assert result.stderr == f"{tmp_path / 'nope'}: cannot read (No such file or directory)\n"


def test_truncated_elf_header(programs, tmp_path):
    path = tmp_path / "cut"
    path.write_bytes(programs["probe"].read_bytes()[:40])
    refused(path, EXIT_FAILED, "truncated ELF header (file is 40 bytes)")


def test_program_header_table_outside_the_file(programs, tmp_path):
    path = tmp_path / "cut"
    path.write_bytes(programs["probe"].read_bytes()[:100])
    refused(path, EXIT_FAILED, "program header table outside the file")


def test_segment_outside_the_file(programs, tmp_path):
    path = tmp_path / "cut"
    path.write_bytes(programs["probe"].read_bytes()[:4096])
    refused(path, EXIT_FAILED, "segment 3 (PT_LOAD) outside the file (p_offset=0x1000")


def test_overlapping_segments(programs, tmp_path):
    path = copy_of(programs, "probe", tmp_path)
    with open(path, "r+b") as f:  # move the second PT_LOAD onto the first
        elf = ELFFile(f)
        loads = [i for i in range(elf.num_segments()) if elf.get_segment(i)["p_type"] == "PT_LOAD"]
        header = elf.get_segment(loads[1]).header
        header.p_vaddr = elf.get_segment(loads[0])["p_vaddr"]
        f.seek(elf["e_phoff"] + loads[1] * elf["e_phentsize"])
        f.write(elf.structs.Elf_Phdr.build(header))
    refused(path, EXIT_FAILED, "segments overlap")


def test_object_file_is_not_an_executable(programs, tmp_path):
    refused(copy_of(programs, "object.o", tmp_path), EXIT_FAILED, "not an executable (ELF type ET_REL)")


def test_shared_library_is_not_an_executable(programs, tmp_path):
    refused(copy_of(programs, "libshared.so", tmp_path), EXIT_FAILED, "shared library (no PT_INTERP)")


def test_static_executable_has_nothing_to_patch(programs, tmp_path):
    refused(copy_of(programs, "static", tmp_path), EXIT_NOTHING_TO_DO, "static executable, nothing to patch")


def test_static_pie_has_nothing_to_patch(programs, tmp_path):
    refused(copy_of(programs, "static-pie", tmp_path), EXIT_NOTHING_TO_DO, "static-pie executable, nothing to patch")


SUPPORTED = "supported: aarch64, arm, i386, ppc64le, riscv64, s390x, x86_64"


def test_executable_for_another_machine_lists_the_supported_ones(tmp_path):
    # Big-endian AArch64: a machine with a stub, but not in this byte order.
    path = assemble(tmp_path, "arm64be", "aarch64-linux-gnu-", ["-EB"],
                    ["-EB", "-pie", "--dynamic-linker", "/lib/ld-musl-aarch64_be.so.1"],
                    "_start:\n  mov x8, #93\n  svc #0\n")
    refused(path, EXIT_FAILED, f"unsupported machine EM_AARCH64 (64-bit, big-endian); {SUPPORTED}")


def test_executable_of_another_class_is_unsupported(tmp_path):
    path = assemble(tmp_path, "x32", "", ["--x32"], ["-m", "elf32_x86_64", "-pie", "--dynamic-linker",
                                                       "/lib/ld-musl-x32.so.1"], EXIT_START)
    refused(path, EXIT_FAILED, f"unsupported machine EM_X86_64 (32-bit, little-endian); {SUPPORTED}")


def test_program_header_table_not_in_a_load_segment(programs, tmp_path):
    path = assemble(tmp_path, "headless", "", [], ["--dynamic-linker", "/lib/ld-musl-x86_64.so.1",
                                                    programs["libshared.so"]], EXIT_START, NO_HEADERS_SCRIPT)
    refused(path, EXIT_FAILED, "program header table not covered by a PT_LOAD segment")


def test_unwritable_output_directory(programs, tmp_path):
    out = tmp_path / "missing" / "app"
    path = copy_of(programs, "probe", tmp_path)
    digest = sha256(path)
    result = relinterp("patch", path, "--loader-rel", LOADER_REL, "-o", out)
    assert result.returncode == EXIT_FAILED
    assert result.stderr == f"{out}: cannot write (No such file or directory)\n"
    assert sha256(path) == digest


@pytest.mark.usefixtures("namespace")
def test_read_only_file_system_in_place(programs, tmp_path):
    path = copy_of(programs, "probe", tmp_path)
    digest = sha256(path)
    script = f'mount --bind -o ro "{tmp_path}" "{tmp_path}" && exec "$@"'
    import sys

    result = run(["unshare", "-m", "sh", "-c", script, "sh", sys.executable, "-m", "relinterp", "patch",
                  path, "--loader-rel", LOADER_REL], text=True)
    assert result.returncode == EXIT_FAILED
    assert result.stderr == f"{path}: cannot write (Read-only file system)\n"
    assert sha256(path) == digest


def test_a_candidate_too_long_for_the_stub_leaves_no_partial_copy(programs, tmp_path):
    """The file is copied while its digest is hashed, before the candidates are laid out:
    a refusal then must remove the copy."""
    refused(copy_of(programs, "probe", tmp_path), EXIT_FAILED, "loader candidate 2 is 1100 bytes long",
            "--loader-rel", "l" * 1100)


def test_absolute_loader_rel_is_a_usage_error(programs, tmp_path):
    path = copy_of(programs, "probe", tmp_path)
    result = relinterp("patch", path, "--loader-rel", "/lib/ld-musl.so")
    assert result.returncode == EXIT_USAGE
    assert "must be a path relative to the program's directory" in result.stderr


def test_restore_of_an_unpatched_file_has_nothing_to_do(programs, tmp_path):
    path = copy_of(programs, "probe", tmp_path)
    result = relinterp("restore", path)
    assert result.returncode == EXIT_NOTHING_TO_DO
    assert result.stderr == f"{path}: not patched by relinterp, nothing to restore\n"


def test_restore_of_a_patched_file_without_its_entry_point_segment_refuses(programs, tmp_path):
    """With the segment holding the original entry point gone from the table (made a
    PT_NULL here), there is no program left to give PT_INTERP back to."""
    path = copy_of(programs, "probe", tmp_path)
    assert relinterp("patch", path, "--loader-rel", LOADER_REL).returncode == 0
    with open(path, "r+b") as f:
        elf = ELFFile(f)
        entry = relinterp_api_entry(path)
        index = next(i for i in range(elf.num_segments()) if elf.get_segment(i)["p_type"] == "PT_LOAD"
                     and elf.get_segment(i)["p_vaddr"] <= entry < elf.get_segment(i)["p_vaddr"] + elf.get_segment(i)["p_filesz"])
        header = elf.get_segment(index).header
        header.p_type = "PT_NULL"
        f.seek(elf["e_phoff"] + index * elf["e_phentsize"])
        f.write(elf.structs.Elf_Phdr.build(header))
    digest = sha256(path)
    result = relinterp("restore", path)
    assert result.returncode == EXIT_FAILED
    assert "is in no segment any more: cannot restore" in result.stderr
    assert sha256(path) == digest


def relinterp_api_entry(path) -> int:
    from relinterp.elf.executable import read_executable
    return read_executable(path).patch.config.entry


def test_corrupted_headers_are_refused_by_name_never_with_a_traceback(programs, tmp_path):
    """Random damage to the ELF header and program header table of a real program."""
    import random

    from relinterp.api import patch
    from relinterp.errors import RelinterpError

    original = programs["probe"].read_bytes()
    rng = random.Random(20261122)
    path, out = tmp_path / "app", tmp_path / "out"
    for _ in range(400):
        data = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(64 + 56 * 12)] = rng.randrange(256)
        path.write_bytes(data)
        try:
            patch(path, loader_rel=LOADER_REL, output=out)
        except RelinterpError as error:
            assert str(error).startswith(f"{path}: ")
        assert path.read_bytes() == data
