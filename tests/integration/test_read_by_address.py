"""Every reader reads what the dynamic table points at by address, across the loadable
segments, as the loader does: on the layout Debian 12's patchelf (0.14.3) leaves when it
grows the search list of a non-PIE program, `.dynstr` across two adjacent PT_LOADs.

The program is Debian's own python3.11 (non-PIE), bundled with that patchelf doing the
search-list edit; `relinterp ldd` and `verify` are checked against the listing of the
bundled loader itself (`ld.so --list`), and a tree with a library removed must fail."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from conftest import relinterp, run, unavailable
from interop_support import DEBIAN_PATCHELF

PYTHON = Path("/usr/bin/python3.11")  # Debian 12's, linked without PIE
PATCHELF_VERSION = "patchelf 0.14.3"  # Debian 12's: the version that leaves the layout
LOADER = "ld-linux-x86-64.so.2"


@pytest.fixture(scope="module")
def python_tree(tmp_path_factory) -> Path:
    """python3.11 bundled, patchelf 0.14.3 (by its full path: another may come first on PATH)
    setting its search list."""
    if not PYTHON.is_file():
        unavailable(f"{PYTHON} is needed (Debian 12's python3.11)")
    version = run([DEBIAN_PATCHELF, "--version"], text=True) if os.access(DEBIAN_PATCHELF, os.X_OK) else None
    if version is None or version.stdout.strip() != PATCHELF_VERSION:
        unavailable(f"{DEBIAN_PATCHELF} must be Debian 12's {PATCHELF_VERSION} (apt-get install patchelf); "
                    f"it is {version.stdout.strip() if version else 'missing'}")
    tree = tmp_path_factory.mktemp("python") / "dist"
    made = relinterp("bundle", PYTHON, "-o", tree, env=dict(os.environ, RELINTERP_PATCHELF=DEBIAN_PATCHELF))
    assert made.returncode == 0, made.stderr
    return tree


def loaders_own_listing(tree: Path) -> dict[str, str]:
    """NEEDED name -> file, as the bundled loader itself resolves them (`ld.so --list`)."""
    listed = run([tree / "lib" / LOADER, "--list", tree / "bin" / "python3.11"], text=True)
    assert listed.returncode == 0, listed.stderr
    found = re.findall(r"^\t(\S+) => (\S+) \(0x", listed.stdout, re.M)
    return {name: os.path.realpath(path) for name, path in found}


def test_patchelf_left_the_string_table_across_two_segments(python_tree):
    with open(python_tree / "bin" / "python3.11", "rb") as stream:
        elf = ELFFile(stream)
        dynstr = elf.get_section_by_name(".dynstr")
        start, end = dynstr["sh_addr"], dynstr["sh_addr"] + dynstr["sh_size"]
        loads = [(s["p_vaddr"], s["p_vaddr"] + s["p_filesz"]) for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
    assert not any(lo <= start and end <= hi for lo, hi in loads)  # in no single segment ...
    first = next((lo, hi) for lo, hi in loads if lo <= start < hi)
    assert first[1] < end and any(lo == first[1] and end <= hi for lo, hi in loads)  # ... but across two adjacent


def ldd_listing(tree: Path) -> dict[str, str]:
    result = relinterp("ldd", tree / "bin" / "python3.11")
    assert result.returncode == 0, result.stdout + result.stderr
    ours = dict(re.findall(r"^\t(\S+) => (\S+)$", result.stdout, re.M))
    return {name: os.path.realpath(path) for name, path in ours.items()}


def test_ldd_lists_the_libraries_the_bundled_loader_lists(python_tree):
    listing = loaders_own_listing(python_tree)
    assert {"libc.so.6", "libexpat.so.1", "libz.so.1", "libm.so.6"} <= set(listing)
    assert all(path.startswith(f"{python_tree}/lib/") for path in listing.values())
    assert ldd_listing(python_tree) == listing


def test_inspect_shows_what_the_program_needs(python_tree):
    result = relinterp("inspect", python_tree / "bin" / "python3.11")
    assert "  needed: libm.so.6, libz.so.1, libexpat.so.1, libc.so.6\n" in result.stdout, result.stdout


def test_verify_finds_every_library_inside_the_tree(python_tree):
    result = relinterp("verify", python_tree)
    assert result.returncode == 0, result.stdout + result.stderr
    listed = len(loaders_own_listing(python_tree))
    assert f"bin/python3.11: loader lib/{LOADER}, {listed} libraries inside the tree" in result.stdout


def test_verify_fails_a_tree_from_which_a_needed_library_was_removed(python_tree, tmp_path):
    tree = tmp_path / "dist"
    shutil.copytree(python_tree, tree, symlinks=True)
    (tree / "lib" / "libexpat.so.1").unlink()
    result = relinterp("verify", tree)
    assert result.returncode == 1, result.stdout
    assert f"{tree}: FAIL bin/python3.11: libraries: libexpat.so.1: not found inside the tree" in result.stdout
    # The loader itself now finds the machine's libexpat, outside the tree; so does ldd.
    listing = loaders_own_listing(tree)
    assert not listing["libexpat.so.1"].startswith(f"{tree}/")
    assert ldd_listing(tree) == listing


def test_a_glibc_tree_keeps_its_libraries_under_ld_library_path_and_ld_preload_overrides_one(python_tree, tmp_path):
    """docs/glibc.md: the tree's DT_RPATH is searched before LD_LIBRARY_PATH; LD_PRELOAD
    still puts another copy of a library in for one run."""
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy2(python_tree / "lib" / "libz.so.1", other / "libz.so.1")
    app = [python_tree / "bin" / "python3.11", "-c", "pass"]

    def libz_loaded(**env) -> str:
        result = run(app, text=True, env=dict(os.environ, LD_DEBUG="libs", **env))
        return re.search(r"calling init: (\S*libz\.so\.1)$", result.stderr, re.M).group(1)

    assert os.path.realpath(libz_loaded(LD_LIBRARY_PATH=str(other))) == str(python_tree / "lib" / "libz.so.1")
    assert libz_loaded(LD_PRELOAD=str(other / "libz.so.1")) == str(other / "libz.so.1")
