"""relinterp's CMake package, used as its users would: found through `relinterp
--cmakedir` of the installed wheel, on real projects configured, built and installed
with CMake, the installed programs run where the system's musl loader does not exist."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import MUSL_LOADER, installed, run, run_hidden
from packaging_support import ROOT

EXAMPLE = ROOT / "examples" / "cmake"


@pytest.fixture(scope="session")
def cmake() -> str:
    return installed("cmake", "cmake")


class Project:
    """A CMake project in `source`, built in `build` and installed under `prefix`."""

    def __init__(self, source: Path, work: Path, relinterp_dir: str):
        self.source, self.build, self.prefix = source, work / "build", work / "prefix"
        self.relinterp_dir = relinterp_dir

    def configure(self, *defines: str):
        # PATH without any relinterp: the package finds the command of its own installation.
        env = dict(os.environ, PATH="/usr/sbin:/usr/bin:/sbin:/bin")
        return run(["cmake", "-S", self.source, "-B", self.build, "-DCMAKE_C_COMPILER=musl-gcc",
                    f"-Drelinterp_DIR={self.relinterp_dir}", *defines], text=True, env=env)

    def build_and_install(self):
        built = run(["cmake", "--build", self.build], text=True)
        assert built.returncode == 0, built.stdout + built.stderr
        return run(["cmake", "--install", self.build, "--prefix", self.prefix], text=True)


@pytest.fixture
def project(tmp_path, installed_wheel, cmake, musl_gcc):
    cmakedir = run([installed_wheel.relinterp, "--cmakedir"], text=True).stdout.strip()

    def make(source: Path = EXAMPLE, cmakelists: str | None = None) -> Project:
        copy = tmp_path / "source"
        shutil.copytree(source, copy)
        if cmakelists is not None:
            (copy / "CMakeLists.txt").write_text(cmakelists)
        return Project(copy, tmp_path, cmakedir)

    return make


def message(result) -> str:
    """CMake's error text with its line wrapping undone."""
    return " ".join(result.stderr.split())


def runpath(path: Path) -> str:
    dynamic = run(["readelf", "-d", path], text=True).stdout
    return next(line.split("[", 1)[1].rstrip("]") for line in dynamic.splitlines() if "(RUNPATH)" in line)


@pytest.mark.usefixtures("namespace")
def test_installed_program_is_patched_after_cmake_rewrites_its_rpath(project, installed_wheel):
    p = project()
    configured = p.configure()
    assert configured.returncode == 0, configured.stderr
    assert f"RELINTERP_EXECUTABLE:FILEPATH={installed_wheel.relinterp}" in (p.build / "CMakeCache.txt").read_text()
    installed = p.build_and_install()
    assert installed.returncode == 0, installed.stdout + installed.stderr
    # The example calls relinterp_patch() before install(TARGETS): the patch still comes last.
    out = installed.stdout
    assert out.index("Set runtime path of") < out.index("relinterp: patching")
    app = p.prefix / "bin" / "greet"
    assert runpath(app) == "$ORIGIN/../lib"
    ran = run_hidden([app, "cmake"])
    assert (ran.returncode, ran.stdout) == (0, "hello, cmake, from a shared library beside me\n"), ran.stderr
    control = run_hidden([p.build / "greet", "cmake"])  # not patched: cannot start without the system loader
    assert control.returncode == 127


BUILD_TREE_PROJECT = """
cmake_minimum_required(VERSION 3.19)
project(tool LANGUAGES C)
find_package(relinterp CONFIG REQUIRED)
add_executable(tool src/greet.c src/greeter.c)
# The build tree ships the loader beside the program.
file(REAL_PATH {loader} loader)
configure_file(${{loader}} ${{CMAKE_BINARY_DIR}}/ld-musl.so COPYONLY)
relinterp_patch(TARGET tool LOADER_REL ld-musl.so BUILD_TREE DESTINATION {destination})
install(TARGETS tool DESTINATION bin)
"""


@pytest.mark.usefixtures("namespace")
def test_build_tree_option_patches_the_program_after_each_link(project):
    p = project(cmakelists=BUILD_TREE_PROJECT.format(loader=MUSL_LOADER, destination="bin"))
    configured = p.configure()
    assert configured.returncode == 0, configured.stderr
    built = run(["cmake", "--build", p.build], text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    ran = run_hidden([p.build / "tool", "build tree"])
    assert (ran.returncode, ran.stdout) == (0, "hello, build tree, from a shared library beside me\n"), ran.stderr


def test_install_fails_saying_what_to_do_when_the_destination_is_not_the_targets(project):
    p = project(cmakelists=BUILD_TREE_PROJECT.format(loader=MUSL_LOADER, destination="libexec"))
    assert p.configure().returncode == 0
    installed = p.build_and_install()
    assert installed.returncode != 0
    assert f"{p.prefix}/libexec/tool was not installed: give relinterp_patch() the DESTINATION" in message(installed)
    assert "relinterp: patching" not in installed.stdout


def test_find_package_refuses_a_version_this_release_is_not_compatible_with(project, tmp_path):
    source = tmp_path / "versions"
    source.mkdir()
    p = project(source=source, cmakelists="cmake_minimum_required(VERSION 3.19)\nproject(v LANGUAGES NONE)\n"
                                          "find_package(relinterp 9.0 CONFIG REQUIRED)\n")
    configured = p.configure()
    assert configured.returncode != 0
    assert 'Could not find a configuration file for package "relinterp" that is compatible with requested version "9.0"' in message(configured)


def test_config_refuses_the_relinterp_command_of_another_installation(project, tmp_path):
    other = tmp_path / "relinterp"
    other.write_text("#!/bin/sh\necho /somewhere/else/relinterp/cmake\n")
    other.chmod(0o755)
    p = project()
    configured = p.configure(f"-DRELINTERP_EXECUTABLE={other}")
    assert configured.returncode != 0
    assert f"{other} belongs to another installation" in message(configured)


def test_install_fails_loudly_when_a_glibc_program_is_pointed_at_the_musl_loader(project):
    """The example built with gcc instead of musl-gcc: its program is a glibc one, and the
    loader it names is musl's, installed beside it.  The install step must fail, not
    leave a program that cannot start."""
    p = project()
    configured = p.configure("-DCMAKE_C_COMPILER=gcc")  # the last -D wins
    assert configured.returncode == 0, configured.stderr
    installed = p.build_and_install()
    assert installed.returncode != 0
    assert f"{p.prefix}/bin/greet: loader $ORIGIN/../lib/ld-musl-x86_64.so.1 ({p.prefix}/lib/ld-musl-x86_64.so.1) " \
           "is a musl loader, but the program is linked against glibc" in installed.stderr, installed.stderr
    assert f"relinterp_patch: relinterp patch {p.prefix}/bin/greet failed (exit status 1)" in message(installed)


GREET_C = """#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--version") == 0) { puts("greet 1.0"); return 0; }
    puts("hello from greet");
    return 0;
}
"""


def doc_block(name: str, heading: str, fence: str) -> str:
    """The first ```fence block after `heading` in docs/`name`."""
    text = (ROOT / "docs" / name).read_text()
    return text.split(heading, 1)[1].split(f"```{fence}\n", 1)[1].split("```", 1)[0]


@pytest.mark.usefixtures("namespace", "musl_gcc")
def test_the_cmake_and_ci_docs_run_as_written_and_give_a_musl_program(tmp_path, distributions, cmake):
    """docs/cmake.md's CMakeLists.txt and docs/ci.md's plain-shell recipe, as they are
    written: a musl program built with musl-gcc, installed patched to musl's loader, then
    bundled, archived and verified by running it in an empty root."""
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "tools").mkdir()
    (project / "CMakeLists.txt").write_text(doc_block("cmake.md", "# CMake:", "cmake"))
    (project / "src" / "greet.c").write_text(GREET_C)
    shutil.copy2(distributions.wheel, project / "tools" / distributions.wheel.name)
    recipe = doc_block("ci.md", "## Plain shell", "sh")
    assert f"tools/{distributions.wheel.name}[bundle]" in recipe  # the recipe names this release's wheel
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
    result = run(["sh", "-c", recipe], cwd=project, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.endswith("tree verified\n")
    for app in (project / "dist" / "install" / "bin" / "greet", project / "dist" / "greet-1.0" / "bin" / "greet"):
        interp = run(["readelf", "-p", ".interp.orig", app], text=True).stdout
        assert "ld-musl-x86_64.so.1" in interp, (app, interp)  # patched, and a musl program
        ran = run_hidden([app])
        assert (ran.returncode, ran.stdout) == (0, "hello from greet\n"), ran.stderr
    assert (project / "dist" / "greet-1.0.tar.gz").is_file()
