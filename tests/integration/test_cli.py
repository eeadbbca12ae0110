"""The command line as users meet it: help, version, exit statuses, API parity."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import relinterp
from conftest import LOADER_REL
from relinterp.cli import main
from relinterp.errors import NothingToPatchError


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("command", [[], ["patch"], ["restore"], ["inspect"]])
def test_help_documents_the_exit_statuses(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    for line in ("0  done", "1  an input was refused", "2  usage error", "3  nothing to do"):
        assert line in result.output


def test_help_lists_every_exit_status_the_readme_lists():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("## Exit status", 1)[1].split("\n\n", 2)[1]
    statuses = re.findall(r"^\| (\d+) \|", table, re.M)
    assert statuses == ["0", "1", "2", "3", "4", "127"]
    shown = invoke("--help").output.split("Exit status:", 1)[1]
    assert re.findall(r"^ +(\d+)  ", shown, re.M) == statuses


def test_version_is_the_package_version_and_names_each_stub():
    lines = invoke("--version").output.splitlines()
    assert lines[0] == f"relinterp {relinterp.__version__}"
    assert any(line.startswith("  x86_64: ") and " sha256 " in line for line in lines)


def test_verbose_patch_reports_the_plan(programs, tmp_path):
    app = tmp_path / "app"
    shutil.copy2(programs["probe"], app)
    result = invoke("patch", app, "--loader-rel", LOADER_REL, "-v")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == f"{app}: patched (loader: $ORIGIN/{LOADER_REL})"
    assert lines[1] == "  interpreter was /lib/ld-musl-x86_64.so.1 (libc: musl); machine EM_X86_64, ET_DYN"
    assert lines[2].startswith("  stub segment: file offset 0x")
    assert lines[3].startswith(f"  size: {programs['probe'].stat().st_size} -> ")


def test_python_api_raises_the_errors_the_cli_reports(programs, tmp_path):
    static = tmp_path / "static"
    shutil.copy2(programs["static"], static)
    with pytest.raises(NothingToPatchError, match="static executable, nothing to patch"):
        relinterp.patch(static, loader_rel=LOADER_REL)
    app = tmp_path / "app"
    shutil.copy2(programs["probe"], app)
    assert relinterp.patch(app, loader_rel=LOADER_REL).status == "patched"
    assert relinterp.restore(app).status == "restored"
    assert app.read_bytes() == programs["probe"].read_bytes()


def test_help_does_not_import_the_elf_machinery():
    code = "import sys; from relinterp.cli import main; print('elftools' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout == "False\n"


def test_python_api_is_exported_lazily_typed_and_frozen(programs, tmp_path):
    import dataclasses

    code = "import sys, relinterp; print(sorted(m for m in sys.modules if m.startswith(('elftools', 'click'))))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout == "[]\n"
    assert (Path(relinterp.__file__).parent / "py.typed").exists()
    app = tmp_path / "app"
    shutil.copy2(programs["hello"], app)
    result = relinterp.patch(app, loader_rel=[LOADER_REL])
    assert isinstance(result, relinterp.PatchResult) and isinstance(relinterp.inspect(app), relinterp.Inspection)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = "other"  # type: ignore[misc]
    assert isinstance(relinterp.restore(app), relinterp.RestoreResult)
    options = relinterp.PatchOptions(loader_rel=(LOADER_REL,))
    assert relinterp.patch(app, **options.as_kwargs(), dry_run=True).status == "would-patch"


def test_patch_imports_nothing_heavy(programs, tmp_path):
    """A plain patch loads relinterp's own struct layouts and the standard library: not
    click, not LIEF, not pyelftools (neither its ELFFile nor its construct library)."""
    app = tmp_path / "app"
    shutil.copy2(programs["hello"], app)
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "relinterp", "patch", str(app),
                             "--loader-rel", LOADER_REL, "-j", "2"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "relinterp.api" in imported and "relinterp.elf.structs" in imported  # the check itself works
    heavy = {m for m in imported if m.split(".")[0] in ("lief", "jsonschema", "numpy", "elftools", "click")}
    assert heavy == set()
