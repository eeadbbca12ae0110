"""Every example runs and prints what its expected-output.txt says."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run

EXAMPLES = sorted(p.parent for p in (Path(__file__).resolve().parents[1] / "examples").glob("*/run.sh"))


@pytest.mark.usefixtures("namespace", "musl_gcc")
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_prints_its_expected_output(example):
    result = run(["bash", example / "run.sh"], text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (example / "expected-output.txt").read_text()
