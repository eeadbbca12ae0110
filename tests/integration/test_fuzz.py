"""The fuzzer (bench/fuzz.py), a fixed-seed few thousand cases: every mutated program
is refused by name or handled, no case hangs, changes its input, leaves a file behind
or takes more than 64 MiB.  The full run (250,000 cases) is a benchmark: bench/README.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from conftest import run

ROOT = Path(__file__).resolve().parents[2]
CASES = 2500
SEED = 20261128  # fixed: the same cases every run; `bench/fuzz.py --seed 20261128 --replay N` shows one
PEAK_RSS_KIB = 64 << 10


def test_a_fixed_seed_of_fuzzed_programs_finds_no_defect(tmp_path, musl_gcc):
    tally = tmp_path / "tally.json"
    result = run([sys.executable, ROOT / "bench" / "fuzz.py", "--cases", str(CASES), "-j", "2", "--seed", str(SEED),
                  "--report", tmp_path / "report.md", "--json", tally], text=True, timeout=600)
    found = json.loads(tally.read_text())
    assert result.returncode == 0, (tmp_path / "report.md").read_text()
    assert found["cases"] == CASES and found["defects"] == {}
    assert found["max_rss_kib"] <= PEAK_RSS_KIB
    patch = found["ops"]["patch"]
    # The cases reach both sides: programs patched (and restored exactly), and refusals of every kind.
    assert patch["ok:patched"] > CASES // 20 and found["ops"]["restore"]["ok:restored"] > CASES // 20
    refusals = {outcome for op in found["ops"].values() for outcome in op if outcome.startswith("refused:")}
    assert {"refused:malformed-elf", "refused:not-elf", "refused:modified", "refused:not-patched"} <= refusals
