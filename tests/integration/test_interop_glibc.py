"""The tools users run after patching, on a glibc program: it still runs with the
system glibc hidden, directly and as `lib/ld.so bin/app`, and restores to a working
program (glibc_support's probe; its output is the same either way)."""

from __future__ import annotations

import pytest

from conftest import run
from glibc_support import LIFECYCLE
from interop_support import DEBIAN_PATCHELF, edit, provide_libraries
from relinterp.elf.executable import read_executable
from report_support import json_run


@pytest.mark.parametrize("name", ["set-rpath", "add-needed", "set-soname", "strip", "eu-strip"])
def test_a_patched_glibc_program_runs_after_the_tool_and_restores(ship_glibc_program, without_glibc, name):
    bundle = ship_glibc_program("probe", patch=False)
    (bundle.lib / "libshared.so").write_bytes((bundle.lib / "libprobe.so").read_bytes())
    provide_libraries(bundle.lib)
    reference = run([bundle.app, "lifecycle"], text=True)
    assert (reference.returncode, reference.stdout) == (0, LIFECYCLE)
    assert without_glibc.hidden_run([bundle.app, "lifecycle"]).returncode != 0  # the control
    interp = read_executable(bundle.app).interp
    assert json_run("patch", bundle.app, "--loader-rel", "../lib/ld-linux-x86-64.so.2")[0]["exit_code"] == 0
    edit(DEBIAN_PATCHELF, name, bundle.app)

    for argv in ([bundle.app], [bundle.loader, bundle.app]):
        result = without_glibc.hidden_run([*argv, "lifecycle"])
        assert (result.returncode, result.stdout) == (0, LIFECYCLE), result.stderr
    document, _ = json_run("restore", bundle.app)
    assert document["files"][0]["status"] == "restored-not-exact"
    assert read_executable(bundle.app).interp == interp
    assert run([bundle.app, "lifecycle"], text=True).stdout == LIFECYCLE
