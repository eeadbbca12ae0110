"""Option values and inputs the command line once took badly: a usage error (status 2)
naming the option before anything is done, or a refusal by name (status 1); never a
traceback, never a wait on a FIFO."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import relinterp
from conftest import LOADER_REL, relinterp as relinterp_cli
from relinterp.errors import EXIT_FAILED, EXIT_USAGE, ReadError

HANG_GUARD = 60  # seconds: a command waiting on a FIFO would never end


@pytest.fixture
def tree(tmp_path, programs) -> Path:
    """A bundled tree of a musl program."""
    out = tmp_path / "tree"
    result = relinterp_cli("bundle", programs["hello"], "-o", out)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def usage_error(*args: str, says: str) -> None:
    result = relinterp_cli(*map(str, args), timeout=HANG_GUARD)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("quoted", ["'x", '"x', "x\\"])
def test_run_arguments_with_broken_quoting_are_a_usage_error(tree, quoted):
    usage_error("verify", tree, "--run", quoted, says="Invalid value for '--run'")


@pytest.mark.parametrize("seconds", ["nan", "inf", "-inf", "-1", "0", "soon"])
def test_a_time_limit_must_be_a_finite_number_of_seconds_above_zero(tree, seconds):
    usage_error("verify", tree, "--run", "x", "--timeout", seconds,
                says=f"Invalid value for '--timeout': '{seconds}': must be a number of seconds above 0")


@pytest.mark.parametrize("option", ["--tar", "--include", "--lib-dir", "--bin-dir", "--loader", "--exclude", "-o"])
def test_an_empty_bundle_option_is_a_usage_error_and_writes_nothing(programs, tmp_path, option):
    out = tmp_path / "out"
    args = ["bundle", programs["hello"], *(["-o", out] if option != "-o" else []), option, ""]
    usage_error(*args, says="must not be empty")
    assert not out.exists() and sorted(os.listdir(tmp_path)) == []


@pytest.mark.parametrize("name", ["app.tar.bz2", "app.zip", "app.tar.lz4", "app"])
def test_an_archive_name_of_another_kind_is_a_usage_error_and_writes_nothing(programs, tmp_path, name):
    out, archive = tmp_path / "out", tmp_path / name
    usage_error("bundle", programs["hello"], "-o", out, "--tar", archive,
                says=f"{archive}: the name must end in .tar.gz, .tgz, .tar.xz, .txz, .tar.zst, .tar")
    assert sorted(os.listdir(tmp_path)) == []


def test_an_empty_output_for_patch_is_a_usage_error(programs):
    usage_error("patch", programs["hello"], "--loader-rel", LOADER_REL, "-o", "", says="must not be empty")


def test_the_tree_itself_as_library_directory_is_refused_from_python(programs, tmp_path):
    from relinterp.bundle.plan import BundleOptions, plan_bundle
    from relinterp.errors import BundleError

    for lib_dir in ("", ".", "lib/.."):
        with pytest.raises(BundleError) as refused:
            plan_bundle([str(programs["hello"])], str(tmp_path / "out"), BundleOptions(lib_dir=lib_dir))
        assert "--lib-dir must be a directory inside the tree" in str(refused.value)


def test_bundle_of_a_fifo_is_refused_without_waiting(fifo, tmp_path):
    result = relinterp_cli("bundle", fifo, "-o", tmp_path / "out", timeout=HANG_GUARD)
    assert result.returncode == EXIT_FAILED
    assert f"{fifo}: cannot read (not a regular file)" in result.stderr.splitlines()


def test_verify_of_a_fifo_is_refused_without_waiting(fifo):
    result = relinterp_cli("verify", fifo, timeout=HANG_GUARD)
    assert (result.returncode, result.stderr) == (EXIT_FAILED, f"{fifo}: cannot read (not a regular file)\n")


def test_verify_of_a_tree_holding_fifos_goes_on(tree):
    for name in ("bin/pipe", "lib/libpipe.so"):
        os.mkfifo(tree / name)
    result = relinterp_cli("verify", tree, timeout=HANG_GUARD)
    assert result.returncode == EXIT_FAILED, result.stdout + result.stderr
    assert result.stdout.splitlines()[-3:] == [f"{tree}: FAIL bin/pipe: sbom: not listed in sbom.cdx.json",
                                               f"{tree}: FAIL lib/libpipe.so: sbom: not listed in sbom.cdx.json",
                                               f"{tree}: FAILED (2 problems)"]
    assert relinterp_cli("verify", tree / "bin/hello", timeout=HANG_GUARD).returncode == 0  # the ELF checks pass


def test_the_python_api_refuses_a_fifo_without_waiting(fifo):
    for operation in (relinterp.inspect, relinterp.restore, lambda p: relinterp.patch(p, loader_rel=LOADER_REL)):
        with pytest.raises(ReadError) as refused:
            operation(fifo)
        assert str(refused.value) == f"{fifo}: cannot read (not a regular file)"
