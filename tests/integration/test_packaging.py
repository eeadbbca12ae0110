"""What a maintainer checks before shipping: the stub rebuilds with nothing beyond the
standard library, the sdist holds what rebuilds the stubs and runs the tests, the wheel
holds the package and its data, and the installed wheel patches a real program."""

from __future__ import annotations

import json
import shutil
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from arch_support import TARGETS
from conftest import LOADER_REL, run, run_hidden, unavailable
from packaging_support import ROOT

import relinterp

STUBS = ROOT / "relinterp" / "_stubs"
# The directories that rebuild the stubs and run the tests: every file of them ships in the sdist.
SOURCE_DIRS = ("stub", "scripts", "examples", "tests")


@pytest.fixture
def bare_python(tmp_path):
    """A Python that cannot import anything outside the standard library: what CMake may
    find as the system's python3 on a fresh machine."""
    wrapper = tmp_path / "python3"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -I -S "$@"\n')
    wrapper.chmod(0o755)
    assert run([wrapper, "-c", "import elftools"]).returncode != 0  # the control: pyelftools is out of reach
    return wrapper


def test_stub_rebuilds_byte_identical_with_a_python_without_pyelftools(bare_python, tmp_path):
    arch = "x86_64"
    reason = TARGETS[arch].missing() or (shutil.which("cmake") is None and "cmake is needed")
    if reason:
        unavailable(reason)
    entry = json.loads((STUBS / "manifest.json").read_text())["stubs"][arch]
    build = tmp_path / "build"
    configured = run(["cmake", "-S", ROOT, "-B", build, f"-DRELINTERP_ARCHES={arch}",
                      f"-DPython3_EXECUTABLE={bare_python}"], text=True)
    assert configured.returncode == 0, configured.stderr
    built = run(["cmake", "--build", build, "--verbose"], text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    assert f"{bare_python} {ROOT}/stub/blobtool.py extract" in built.stdout  # it was the one used
    blob = (build / arch / "stub.bin").read_bytes()
    if json.loads((build / arch / "stub.json").read_text())["compiler"] == entry["compiler"]:
        assert blob == (STUBS / entry["file"]).read_bytes()


def test_python_build_prints_no_warning(distributions):
    warnings = [line for line in distributions.log.splitlines() if "warn" in line.lower()]
    assert not warnings, "\n".join(warnings)


def test_sdist_holds_every_file_that_rebuilds_the_stubs_and_runs_the_tests(distributions):
    with tarfile.open(distributions.sdist) as sdist:
        prefix = only_prefix(sdist.getnames())
        shipped = {name[len(prefix):] for name in sdist.getnames()}
    wanted = {"LICENSE", "README.md", "pyproject.toml", "CMakeLists.txt", ".ci/run", "tests/run.sh",
              "tests/conftest.py", "relinterp/cmake/relinterpConfig.cmake"}
    for directory in SOURCE_DIRS:
        wanted |= {p.relative_to(distributions.source).as_posix()
                   for p in (distributions.source / directory).rglob("*") if p.is_file()}
    assert wanted - shipped == set()


def only_prefix(names) -> str:
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {f"relinterp-{relinterp.__version__}"}
    return tops.pop() + "/"


def test_every_test_of_the_sdist_is_collected(distributions, tmp_path):
    with tarfile.open(distributions.sdist) as sdist:
        # Our own archive; the filter argument exists from Python 3.11.4 on.
        sdist.extractall(tmp_path, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    unpacked = tmp_path / f"relinterp-{relinterp.__version__}"
    # `python -m` puts the unpacked directory first on sys.path: its relinterp is the one tested.
    collected = run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                    cwd=unpacked, text=True)
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr
    assert "error" not in collected.stdout.splitlines()[-1]


def test_wheel_holds_the_package_its_stubs_schemas_and_cmake_files(distributions):
    with zipfile.ZipFile(distributions.wheel) as wheel:
        names = set(wheel.namelist())
    manifest = json.loads((STUBS / "manifest.json").read_text())
    wanted = {f"relinterp/_stubs/{stub['file']}" for stub in manifest["stubs"].values()}
    wanted |= {"relinterp/_stubs/manifest.json", "relinterp/py.typed", "relinterp/cli.py",
               "relinterp/cmake/relinterpConfig.cmake", "relinterp/cmake/relinterpConfigVersion.cmake",
               f"relinterp-{relinterp.__version__}.dist-info/licenses/LICENSE"}
    wanted |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "relinterp" / "schema").glob("*.json")}
    assert wanted - names == set()
    assert not {n for n in names if n.split("/", 1)[0] in {"tests", "stub", "scripts", "examples"}}


def test_wheel_metadata_names_the_license_by_expression_and_the_one_version(distributions):
    with zipfile.ZipFile(distributions.wheel) as wheel:
        metadata = Parser().parsestr(wheel.read(f"relinterp-{relinterp.__version__}.dist-info/METADATA").decode())
    assert metadata["Version"] == relinterp.__version__
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert metadata["Keywords"]
    classifiers = metadata.get_all("Classifier")
    assert "Operating System :: POSIX :: Linux" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # PEP 639: the expression says it


@pytest.mark.usefixtures("namespace")
def test_installed_wheel_patches_a_program_that_runs_without_the_system_loader(installed_wheel, ship_program):
    dist = ship_program("probe", patch=False)
    control = run_hidden([dist.app])
    assert control.returncode == 127, control.stdout + control.stderr
    patched = run([installed_wheel.relinterp, "patch", dist.app, "--loader-rel", LOADER_REL], text=True)
    assert patched.returncode == 0, patched.stderr
    ran = run_hidden([dist.app])
    assert ran.returncode == 0, ran.stderr


def test_installed_cmakedir_is_inside_the_installed_package(installed_wheel):
    shown = run([installed_wheel.relinterp, "--cmakedir"], text=True)
    assert shown.returncode == 0, shown.stderr
    cmakedir = shown.stdout.strip()
    site = run([installed_wheel.venv / "bin" / "python", "-I", "-c", "import relinterp; print(relinterp.__file__)"],
               text=True).stdout.strip()
    assert cmakedir == str(Path(site).parent / "cmake")
    assert (Path(cmakedir) / "relinterpConfig.cmake").is_file()


def test_version_reports_each_stub_of_the_manifest(installed_wheel):
    shown = run([installed_wheel.relinterp, "--version"], text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == f"relinterp {relinterp.__version__}"
    for arch, stub in json.loads((STUBS / "manifest.json").read_text())["stubs"].items():
        assert f"{arch}" in shown.stdout and stub["sha256"][:16] in shown.stdout
