"""Every example runs and prints what its expected-output.txt says.

An example starts by installing what it needs (scripts/setup.sh, apt); a test installs
nothing: it runs the example with RELINTERP_SKIP_SETUP set, on a machine the suite's own
set-up (tests/run.sh) prepared, and says what is missing otherwise."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import run, run_hidden, unavailable

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob("*/run.sh"))
NEEDS = ("musl-gcc", "patchelf", "bwrap", "unshare")


@pytest.mark.usefixtures("namespace", "musl_gcc")
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_prints_its_expected_output(example):
    missing = [tool for tool in NEEDS if shutil.which(tool) is None]
    if missing or not (ROOT / ".venv/bin/relinterp").exists():
        unavailable(f"the examples need {', '.join(missing) or 'relinterp in .venv'}: run scripts/setup.sh")
    result = run(["bash", example / "run.sh"], text=True, env={**os.environ, "RELINTERP_SKIP_SETUP": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == (example / "expected-output.txt").read_text()


def readme_block(heading: str) -> list[str]:
    """The first indented code block under `heading` in README.md, as lines to paste."""
    section = (ROOT / "README.md").read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines, started = [], False
    for line in section.splitlines():
        if line.startswith("    "):
            lines.append(line[4:])
            started = True
        elif started:
            break
    return lines


@pytest.mark.usefixtures("namespace", "musl_gcc")
def test_the_readme_quick_start_runs_as_pasted(tmp_path):
    lines = readme_block("Quick start")
    assert lines[0].startswith("mkdir") and lines[-1].startswith("dist/bin/hello")
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    result = run(["bash", "-e", "-c", "\n".join(lines)], text=True, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("hello\n"), result.stdout
    # "works with no musl installed": where the system's musl loader is hidden
    hidden = run_hidden([tmp_path / "dist" / "bin" / "hello"])
    assert (hidden.returncode, hidden.stdout) == (0, "hello\n"), hidden.stderr


def test_the_hello_example_installs_only_what_it_needs():
    """On a fresh machine `bash examples/hello/run.sh` installs with `scripts/setup.sh
    --example`: three packages, each for a command the example runs, not the suite's."""
    script = (ROOT / "examples" / "hello" / "run.sh").read_text()
    assert '"$root/scripts/setup.sh" --example' in script
    setup = ["bash", ROOT / "scripts" / "setup.sh"]
    listed = run([*setup, "--example", "--print-packages"], text=True).stdout.split()
    assert listed == ["musl-tools", "python3-venv", "util-linux"]
    for package, command in (("musl-tools", "musl-gcc"), ("util-linux", "unshare")):
        assert f"/usr/bin/{command}\n" in run(["dpkg", "-L", package], text=True).stdout
        assert command in script
    everything = run([*setup, "--print-packages"], text=True).stdout.split()
    assert set(listed) < set(everything) and len(everything) > 30
    installed = run([*setup, "--example"], text=True)  # on this machine: everything is there already
    assert (installed.returncode, installed.stderr) == (0, ""), installed.stderr
