"""What the stub adds to a start: the system calls of a kernel-style load and no mapping
the kernel would not have made.  Counts, not timings: the timings are in bench/startup.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from conftest import LOADER_REL, MUSL_DIR, MUSL_LOADER, compile_program, relinterp, run, run_hidden, unavailable

pytestmark = pytest.mark.usefixtures("namespace")

# Prints the number of mappings at main, and the bytes of those with no name (anonymous):
# the program bench/startup.py measures with.
COUNT_MAPPINGS = Path(__file__).resolve().parents[2] / "bench" / "src" / "maps.c"


def load_segments(path) -> int:
    with open(path, "rb") as stream:
        return sum(seg["p_type"] == "PT_LOAD" for seg in ELFFile(stream).iter_segments())


def stub_calls(log: str) -> list[str]:
    """The system calls from execve to the loader's first (musl's is arch_prctl)."""
    names = [line.split("(", 1)[0].split()[-1] for line in log.splitlines() if "(" in line]
    assert names[0] == "execve", names
    calls = names[1:]
    return calls[:calls.index("arch_prctl")]


def test_stub_makes_the_system_calls_of_a_kernel_load_and_one_statx(ship_program, tmp_path):
    if shutil.which("strace") is None:
        unavailable("strace is needed (apt-get install strace)")
    dist = ship_program("hello")
    log = tmp_path / "strace.log"
    script = f'mount -t tmpfs none {MUSL_DIR} && exec strace -f -qq -o "{log}" "$@"'
    result = run(["unshare", "-m", "sh", "-c", script, "sh", dist.app], text=True)
    assert (result.returncode, result.stdout) == (0, "hello\n"), result.stderr
    # One mmap per PT_LOAD (the first spanning the image), one for the bss and the page
    # holding the program header table: musl's last segment has bss pages to share it.
    mmaps = ["mmap"] * (load_segments(MUSL_LOADER) + 1)
    # statx: the loader's type, mode, owner and size, which the kernel's open_exec checks.
    assert stub_calls(log.read_text()) == ["readlinkat", "openat", "statx", "pread64", *mmaps, "close"]


def test_patched_program_maps_only_its_stub_segment_and_the_table_page_more(musl_gcc, tmp_path):
    plain = compile_program(musl_gcc, tmp_path / "maps", COUNT_MAPPINGS)
    (tmp_path / "dist" / "bin").mkdir(parents=True)
    (tmp_path / "dist" / "lib").mkdir()
    shutil.copy2(MUSL_LOADER, tmp_path / "dist" / "lib" / "ld-musl.so")
    app = tmp_path / "dist" / "bin" / "maps"
    patched = relinterp("patch", plain, "--loader-rel", LOADER_REL, "-o", app)
    assert patched.returncode == 0, patched.stderr
    unpatched = run([plain], text=True)  # the kernel loads the system's musl loader
    result = run_hidden([app])
    assert result.returncode == 0, result.stderr
    mappings, anonymous = map(int, result.stdout.split())
    unpatched_mappings, unpatched_anonymous = map(int, unpatched.stdout.split())
    # The stub's segment, mapped by the kernel from the file; and the page holding the
    # program header table the loader keeps, which shares the loader's bss mapping.
    assert (mappings, anonymous) == (unpatched_mappings + 1, unpatched_anonymous + os.sysconf("SC_PAGE_SIZE"))
