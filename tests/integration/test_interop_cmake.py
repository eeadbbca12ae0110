"""A real CMake project that patches its program after linking (POST_BUILD), then
installs it: `cmake --install` rewrites RUNPATH in place.  The installed program runs
with the system loader hidden, and `inspect`/`restore` do not call it the original."""

from __future__ import annotations

import shutil
import sys

import pytest

from conftest import MUSL_LOADER, PROGRAMS, run, run_hidden, unavailable
from relinterp.elf.executable import read_executable
from report_support import json_run


@pytest.fixture(scope="module")
def installed(tmp_path_factory, musl_gcc):
    if shutil.which("cmake") is None:
        unavailable("cmake is needed (apt-get install cmake)")
    work = tmp_path_factory.mktemp("cmake")
    build, prefix = work / "build", work / "prefix"
    configure = run(["cmake", "-S", PROGRAMS / "cmake-install", "-B", build, f"-DCMAKE_C_COMPILER={musl_gcc}",
                     f"-DRELINTERP={sys.executable};-m;relinterp", f"-DMUSL_LOADER={MUSL_LOADER}",
                     f"-DCMAKE_INSTALL_PREFIX={prefix}"], text=True)
    assert configure.returncode == 0, configure.stdout + configure.stderr
    for step in (["cmake", "--build", build], ["cmake", "--install", build]):
        result = run(step, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    return build / "answer", prefix / "bin" / "answer"


def test_cmake_install_rewrites_the_runpath_of_the_patched_program(installed):
    built, app = installed
    assert read_executable(built).patch is not None
    assert read_executable(built).runpath != "$ORIGIN/../lib"  # the build tree's directory
    assert read_executable(app).runpath == "$ORIGIN/../lib"


def test_the_installed_program_runs_without_the_system_loader(installed, namespace):
    _, app = installed
    result = run_hidden([app])
    assert (result.returncode, result.stdout) == (0, "answer 41\n"), result.stderr
    via_loader = run_hidden([app.parent.parent / "lib" / "ld-musl.so", app])
    assert (via_loader.returncode, via_loader.stdout) == (0, "answer 41\n"), via_loader.stderr


def test_inspect_and_restore_of_the_installed_program_do_not_claim_the_original(installed, tmp_path):
    built, app = installed
    document, _ = json_run("inspect", app)
    patch = document["files"][0]["patch"]
    assert patch["exact_restore"] is False
    assert any(change.startswith("RUNPATH '$ORIGIN/../lib', was ") for change in patch["changes"])
    document, _ = json_run("restore", app, "-o", tmp_path / "answer")
    restored = document["files"][0]
    assert (restored["status"], restored["exact"]) == ("restored-not-exact", False)
    assert any(d.startswith("RUNPATH '$ORIGIN/../lib', was ") for d in restored["differences"])
    assert read_executable(tmp_path / "answer").interp == "/lib/ld-musl-x86_64.so.1"
