"""Every example runs and prints what its expected-output.txt says.

An example starts by installing what it needs (scripts/setup.sh, apt); a test installs
nothing: it runs the example with RELINTERP_SKIP_SETUP set, on a machine the suite's own
set-up (tests/run.sh) prepared, and says what is missing otherwise."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import run, unavailable

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
