"""The stub against the kernel (bench/differential.py), a fixed seed: mutated musl loaders
of x86_64 and i386, each run as PT_INTERP by the kernel and by the stub (also with a
debugger's breakpoint, and a sample under gdb), find no disagreement that
docs/robustness.md does not list and no fault in the stub's code.  The long run is a
benchmark: bench/RESULTS-differential.md."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from arch_support import TARGETS
from conftest import run, unavailable
from discovery_support import setuid_workspace

ROOT = Path(__file__).resolve().parents[2]
CASES = 2000
GDB_CASES = 12
SEED = 20261205  # fixed: `bench/differential.py --seed 20261205 --replay N` shows case N


@pytest.fixture
def workspace():
    for arch in ("x86_64", "i386"):
        if reason := TARGETS[arch].missing():
            unavailable(f"{arch}: {reason}")
    if shutil.which("gdb") is None:
        unavailable("gdb is needed (apt-get install gdb)")
    directory = setuid_workspace()  # every user the cases run as can reach it
    yield directory
    shutil.rmtree(directory)


def test_a_fixed_seed_of_mutated_loaders_finds_no_undocumented_difference_from_the_kernel(workspace):
    tally_file = workspace / "tally.json"
    result = run([sys.executable, ROOT / "bench" / "differential.py", "--cases", str(CASES), "--seed", str(SEED),
                  "-j", "2", "--gdb", str(GDB_CASES), "--work", workspace / "work", "--report", workspace / "report.md",
                  "--json", tally_file], text=True, timeout=900)
    tally = json.loads(tally_file.read_text())
    assert result.returncode == 0, (workspace / "report.md").read_text()
    assert tally["cases"] == CASES and tally["errors"] == []
    assert all(not found for found in tally["undocumented"].values()), tally["undocumented"]
    # The cases reach every class on both sides, and both architectures.
    plain = tally["pairs"]["without a debugger"]
    for pair in ("ran / ran", "refused / refused", "crashed / crashed", "crashed / refused"):
        assert plain[pair] > CASES // 50, plain
    assert set(tally["arches"]) == {"x86_64", "i386"}
    # The breakpoint makes the stub redirect the loader's _dl_debug_state, wherever it runs.
    assert tally["hooked"]["with a breakpoint"] >= plain["ran / ran"]
    assert sum(tally["pairs"]["under gdb"].values()) == GDB_CASES
    assert tally["hooked"]["under gdb"] > 0
    # The known differences happen, and are the only ones.
    assert {"write-busy", "exec-only"} <= set(tally["documented"]["without a debugger"])
