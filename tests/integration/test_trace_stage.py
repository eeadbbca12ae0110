"""bundle STAGE -o DIR --trace: an install prefix traced with its own programs.  STAGE's
files are the tree's already; the run adds what its program loads from outside (the
system's zlib, by name) and lists what it takes from the target.  The tree runs in an
empty root where the untraced one fails, and its SBOM says how each file came in."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import PROGRAMS, relinterp, sha256
from glibc_bundle_support import gcc
from report_support import valid_document
from sbom_support import SBOM, components, listed_sha256, prop, validate
from trace_support import bundle, refused_by_the_plan, refused_in_one_line, verify_run

pytestmark = pytest.mark.usefixtures("strace", "namespace")
ZLIB = "lib/libz.so.1"


@pytest.fixture(scope="module")
def stage(tmp_path_factory) -> Path:
    """bin/loadz (glibc) dlopen()s the system's libz.so.1 by name and reads the time zone;
    share/loadz/README is data."""
    root = tmp_path_factory.mktemp("loadz") / "stage"
    (root / "bin").mkdir(parents=True)
    (root / "share/loadz").mkdir(parents=True)
    gcc(root / "bin/loadz", PROGRAMS / "trace/loadz.c")
    (root / "share/loadz/README").write_text("loadz: read me\n")
    return root


@pytest.fixture(scope="module")
def traced(stage, tmp_path_factory) -> tuple[Path, dict]:
    tree = tmp_path_factory.mktemp("traced") / "dist"
    result = bundle(stage, "-o", tree, "--trace", "", "--json")
    assert result.returncode == 0, result.stderr
    return tree, valid_document(result.stdout, "bundle")


def test_a_traced_stage_gets_what_its_program_loads_from_outside_and_runs_in_an_empty_root(traced):
    tree, document = traced
    found_by = {f["path"]: f["found_by"] for f in document["files"]}
    assert (found_by[ZLIB], found_by["bin/loadz"], found_by["share/loadz/README"]) == ("trace", "stage", "stage")
    assert not [path for path, how in found_by.items() if how == "trace" and path != ZLIB]
    checked = verify_run(tree, "")
    assert checked.returncode == 0, checked.stdout
    assert any(line.startswith("  | loadz: zlib ") for line in checked.stdout.splitlines()), checked.stdout


def test_a_stage_bundled_without_tracing_misses_what_its_program_loads(stage, tmp_path):
    assert bundle(stage, "-o", tmp_path / "dist").returncode == 0
    result = verify_run(tmp_path / "dist", "")
    assert result.returncode == 1
    assert "  | loadz: libz.so.1: cannot open shared object file: No such file or directory" in result.stdout


def test_a_traced_stage_lists_what_it_takes_from_the_target(traced, stage):
    _, document = traced
    taken = {t["path"]: t for t in document["from_target"]}
    assert taken["/etc/localtime"]["by"] == str(stage.resolve() / "bin/loadz")
    assert not [path for path in taken if path.startswith(str(stage.resolve()))]


def test_a_traced_stages_sbom_says_how_each_file_came_in_with_its_digest(traced):
    tree, _ = traced
    validate((tree / SBOM).read_text())
    found = components(tree)
    expected = {ZLIB: ("library", "trace"), "share/loadz/README": ("file", "stage"),
                "bin/loadz": ("application", "stage"), "lib/libc.so.6": ("library", "needed"),
                "lib/libgcc_s.so.1": ("library", "glibc-by-name"),
                "lib/libnss_files.so.2": ("library", "glibc-by-name")}
    for name, (kind, came_in) in expected.items():
        assert (found[name]["type"], prop(found[name], "came-in")) == (kind, came_in), name
        assert listed_sha256(found[name]) == sha256(tree / name), name
    assert ".relinterp-bundle.json" not in found and (tree / ".relinterp-bundle.json").is_file()
    assert relinterp("verify", tree).returncode == 0


def test_verify_names_a_file_the_trace_brought_in_that_changed_after_bundling(traced, tmp_path):
    tree = tmp_path / "dist"
    shutil.copytree(traced[0], tree, symlinks=True)
    listed = sha256(tree / ZLIB)
    with open(tree / ZLIB, "ab") as library:
        library.write(b"\0")
    result = relinterp("verify", tree)
    assert result.returncode == 1
    assert [line for line in result.stdout.splitlines() if ": FAIL " in line] == [
        f"{tree}: FAIL {ZLIB}: sbom: changed since bundling: sha256 {sha256(tree / ZLIB)}, {SBOM} lists {listed}"]


# ---------------------------------------------------------------- which programs run

@pytest.fixture
def two_programs(stage, tmp_path) -> Path:
    """The stage with a second program in bin/: one that fails whatever it is given."""
    root = tmp_path / "stage"
    shutil.copytree(stage, root)
    shutil.copy("/usr/bin/false", root / "bin/false")
    return root


def test_a_stage_with_several_programs_asks_which_one_trace_runs(two_programs, tmp_path):
    result = bundle(two_programs, "-o", tmp_path / "dist", "--trace", "")
    refused_by_the_plan(result, tmp_path / "dist", f"{two_programs}: 2 programs in bin (false, loadz): name the "
                                                   "one(s) --trace runs with --trace-program")


def test_each_program_named_is_run(two_programs, tmp_path):
    chosen = bundle(two_programs, "-o", tmp_path / "dist", "--trace", "", "--trace-program", "bin/loadz", "-n")
    assert chosen.returncode == 0, chosen.stderr
    both = bundle(two_programs, "-o", tmp_path / "dist", "--trace", "", "--trace-program", "bin/loadz",
                  "--trace-program", "bin/false")
    refused_in_one_line(both, f"{two_programs.resolve()}/bin/false: --trace '' failed (exit status 1), "
                              "nothing bundled")
    assert not (tmp_path / "dist").exists()


@pytest.mark.parametrize("program, complaint", [
    ("../outside", "../outside: --trace-program: not a path inside STAGE"),
    ("share/loadz/README", "share/loadz/README: not an ELF file"),
])
def test_a_trace_program_that_is_no_program_of_the_stage_is_refused(stage, tmp_path, program, complaint):
    result = bundle(stage, "-o", tmp_path / "dist", "--trace", "", "--trace-program", program)
    refused_by_the_plan(result, tmp_path / "dist", complaint)


@pytest.mark.parametrize("args, complaint", [
    (["--trace-prefix", "/usr"], "--trace-prefix goes with programs"),
    (["--trace-program", "bin/loadz"], "--trace-program, --trace-prefix and --trace-timeout go with --trace"),
])
def test_trace_options_that_do_not_fit_a_stage_are_usage_errors(stage, tmp_path, args, complaint):
    result = bundle(stage, "-o", tmp_path / "dist", *(["--trace", ""] if "--trace-prefix" in args else []), *args)
    assert result.returncode == 2
    assert complaint in result.stderr
    assert not (tmp_path / "dist").exists()


def test_trace_program_goes_with_a_stage_only(tmp_path):
    result = bundle("/usr/bin/date", "-o", tmp_path / "dist", "--trace", "", "--trace-program", "bin/date")
    assert result.returncode == 2
    assert "--trace-program goes with STAGE" in result.stderr
