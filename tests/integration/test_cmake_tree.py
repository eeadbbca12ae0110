"""A CMake project installed into a prefix and bundled whole: `relinterp bundle STAGE -o
DIR` after `cmake --install`, and relinterp_bundle() doing it at install time.  The
application proves each part of its installation is found relative to itself: its
library, a plugin it dlopen()s by path (needing the system's zlib), a helper it runs and
a data file it reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import PROGRAMS, installed, relinterp, run

SOURCE = PROGRAMS / "cmake-app"
PROOF = ["core: 42", "plugin: zlib ", "helper: helper ran (exit status 0)", "data: data from share/app"]


@pytest.fixture(scope="module")
def cmake() -> str:
    return installed("cmake", "cmake")


def configure_and_build(build: Path, *defines: str) -> None:
    configured = run(["cmake", "-S", SOURCE, "-B", build, "-DCMAKE_C_COMPILER=gcc", *defines], text=True,
                     env=dict(os.environ, PATH="/usr/sbin:/usr/bin:/sbin:/bin"))
    assert configured.returncode == 0, configured.stdout + configured.stderr
    built = run(["cmake", "--build", build], text=True)
    assert built.returncode == 0, built.stdout + built.stderr


@pytest.fixture(scope="module")
def stage(tmp_path_factory, cmake, system_glibc) -> Path:
    """The project installed with `cmake --install build --prefix stage`."""
    work = tmp_path_factory.mktemp("cmake-app")
    configure_and_build(work / "build")
    installed = run(["cmake", "--install", work / "build", "--prefix", work / "stage"], text=True)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return work / "stage"


def proof_lines(output: str) -> list[str]:
    lines = [line.removeprefix("  | ") for line in output.splitlines()]
    return [line for line in lines if any(line.startswith(p) for p in PROOF)]


def assert_proven(output: str) -> None:
    lines = proof_lines(output)
    assert len(lines) == len(PROOF) and all(line.startswith(p) for line, p in zip(lines, PROOF)), output


def test_the_bundled_prefix_passes_verify_run_from_another_place(stage, tmp_path):
    bundled = relinterp("bundle", stage, "-o", tmp_path / "dist")
    assert bundled.returncode == 0, bundled.stderr
    moved = tmp_path / "elsewhere" / "app"
    moved.parent.mkdir()
    os.rename(tmp_path / "dist", moved)
    verified = relinterp("verify", moved, "--run", "")
    assert verified.returncode == 0, verified.stdout
    lines = verified.stdout.splitlines()
    assert f"{moved}: bin/app: ran /bundle/bin/app in an empty root: exit status 0" in lines
    assert f"{moved}: libexec/app/helper: ran /bundle/libexec/app/helper in an empty root: exit status 0" in lines
    assert_proven(verified.stdout)


def test_the_prefix_bundled_with_the_loader_in_each_program_passes_verify_run(stage, tmp_path):
    bundled = relinterp("bundle", stage, "-o", tmp_path / "dist", "--embed-loader")
    assert bundled.returncode == 0, bundled.stderr
    assert not [p for p in (tmp_path / "dist").rglob("ld-linux*")]  # bin/app and the helper each carry it
    verified = relinterp("verify", tmp_path / "dist", "--run", "")
    assert verified.returncode == 0, verified.stdout
    assert f"{tmp_path / 'dist'}: bin/app: loader embedded in the program" in verified.stdout
    assert_proven(verified.stdout)


def test_without_the_machines_glibc_the_tree_runs_and_the_stage_does_not(stage, tmp_path, without_glibc):
    assert relinterp("bundle", stage, "-o", tmp_path / "dist").returncode == 0
    ran = without_glibc.hidden_run([tmp_path / "dist/bin/app"])
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert_proven(ran.stdout)
    assert without_glibc.hidden_run([stage / "bin/app"]).returncode == 127
    assert run([stage / "bin/app"]).returncode == 127  # even here: nothing finds lib/libcore.so


# ---------------------------------------------------------------- relinterp_bundle() at install time

@pytest.fixture
def cmakedir(installed_wheel) -> str:
    return run([installed_wheel.relinterp, "--cmakedir"], text=True).stdout.strip()


def test_relinterp_bundle_makes_the_tree_of_the_installed_prefix(cmake, cmakedir, system_glibc, tmp_path):
    build = tmp_path / "build"
    configure_and_build(build, f"-Drelinterp_DIR={cmakedir}", "-DRELINTERP_BUNDLE=dist",
                        "-DRELINTERP_BUNDLE_ARGS=TAR;dist.tar.gz")
    env = dict(os.environ, DESTDIR=str(tmp_path / "package"))
    for attempt in ("first", "again"):  # installing again replaces the tree bundle made
        installed = run(["cmake", "--install", build, "--prefix", "/opt/app"], text=True, env=env)
        assert installed.returncode == 0, installed.stdout + installed.stderr
    out = installed.stdout
    # relinterp_bundle() is called first in the project: its step still comes last,
    # after the plugin's subdirectory too.
    assert out.index("plugins/libp.so") < out.index("relinterp: bundling")
    assert f"relinterp: bundling {tmp_path}/package/opt/app into {build}/dist" in out
    assert (build / "dist.tar.gz").is_file()
    verified = relinterp("verify", build / "dist", "--run", "")
    assert verified.returncode == 0, verified.stdout
    assert_proven(verified.stdout)


def test_relinterp_bundle_refuses_a_project_whose_subdirectories_install_last(cmake, cmakedir, tmp_path):
    source = tmp_path / "old"
    source.mkdir()
    (source / "CMakeLists.txt").write_text("cmake_minimum_required(VERSION 3.13)\nproject(old LANGUAGES NONE)\n"
                                           "find_package(relinterp CONFIG REQUIRED)\n"
                                           "relinterp_bundle(OUTPUT dist)\n")
    configured = run(["cmake", "-S", source, "-B", tmp_path / "build", f"-Drelinterp_DIR={cmakedir}"], text=True)
    assert configured.returncode != 0
    assert "relinterp_bundle: needs policy CMP0082 NEW" in " ".join(configured.stderr.split())


def test_a_refused_bundle_fails_the_install_saying_why(cmake, cmakedir, system_glibc, tmp_path):
    prefix = tmp_path / "prefix"
    configure_and_build(tmp_path / "build", f"-Drelinterp_DIR={cmakedir}", f"-DRELINTERP_BUNDLE={prefix}/dist")
    installed = run(["cmake", "--install", tmp_path / "build", "--prefix", prefix], text=True)
    assert installed.returncode != 0
    assert f"{prefix}/dist: lies inside STAGE {prefix}: the tree would hold itself" in installed.stderr
    assert f"relinterp_bundle: relinterp bundle {prefix} -o {prefix}/dist failed (exit status 1)" \
        in " ".join(installed.stderr.split())
    assert not (prefix / "dist").exists()
