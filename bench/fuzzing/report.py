"""bench/RESULTS-fuzz.md: what a fuzz run did and found."""

from __future__ import annotations

import shlex
import sys
from collections import Counter
from pathlib import Path

HEADLINE = (("hang", "hangs"), ("crash", "crashes (a signal other than the time limit)"),
            ("changed-input", "inputs changed by a refusal"), ("temp-file-left", "temporary files left"),
            ("internal", "internal errors (an exception not from relinterp.errors)"),
            ("cli-internal-error", "internal errors or tracebacks on the command line"))
TARGET_RSS_MIB = 64


def write_report(path: Path, tally, seconds: float, args, seeds, missing: list[str], argv: list[str]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from run import describe_machine  # bench/run.py: the same machine lines as every report

    lines = ["# Fuzzing patch, inspect and restore", "",
             f"Command: `{shlex.join(['python3', 'bench/fuzz.py', *argv[1:]])}` (seed {args.seed}, "
             f"cases {args.first}..{args.first + args.cases - 1}, {args.batch} cases per forked child, "
             f"{args.time_limit} s per case and {args.memory_limit} MiB of address space per child)", ""]
    lines += [f"- {k}: {v}" for k, v in describe_machine().items()]
    lines += ["", "## Summary", "",
              f"{tally.cases:,} cases in {seconds:,.0f} s with {args.jobs} workers: "
              f"{tally.cases / max(seconds, 1e-9):,.0f} cases/s.", "",
              "| what | cases |", "|---|---|"]
    lines += [f"| {label} | {_count(tally.defects, kind)} |" for kind, label in HEADLINE]
    lines += [f"| all defects | {sum(tally.defects.values())} |",
              f"| peak RSS of a case (target ≤ {TARGET_RSS_MIB} MiB) | {tally.max_rss_kib / 1024:.1f} MiB |", ""]
    lines += _operations(tally) + _defects(tally) + _rss(tally) + _seeds(seeds, missing)
    path.write_text("\n".join(lines) + "\n")


def _count(defects: Counter, kind: str) -> int:
    return sum(n for k, n in defects.items() if k == kind or k.startswith(kind + ":"))


def _operations(tally) -> list[str]:
    lines = ["## What each operation did", "",
             "Per operation, the outcomes: `ok:STATUS` (done), `refused:KIND` (a relinterp.errors refusal: "
             "`PATH: reason`, exit status 1 or 3, input unchanged).", ""]
    for op, counts in sorted(tally.ops.items()):
        parts = ", ".join(f"{outcome} {n:,}" for outcome, n in counts.most_common())
        lines.append(f"- `{op}` ({sum(counts.values()):,}): {parts}")
    return lines + [""]


def _defects(tally) -> list[str]:
    lines = ["## Defects by class", ""]
    if not tally.defects:
        return lines + ["None.", ""]
    for kind, n in tally.defects.most_common():
        lines.append(f"- **{kind}**: {n:,} (replay: `python3 bench/fuzz.py --replay N`)")
        for example in tally.examples[kind]:
            lines.append(f"  - case {example['case']}, seed {example['seed']}, "
                         f"{'; '.join(example['mutations'])}, options {example['options']}: {example['detail']}")
    return lines + [""]


def _rss(tally) -> list[str]:
    lines = ["## Peak RSS per case", "", "The peak resident set of the child that ran the case (a fork of a "
             "worker that has relinterp imported; shared by the cases of one batch).", "", "| MiB | cases |",
             "|---|---|"]
    lines += [f"| {mib} | {n:,} |" for mib, n in sorted(tally.rss_kib.items())]
    return lines + [""]


def _seeds(seeds, missing: list[str]) -> list[str]:
    lines = ["## Seeds", ""]
    lines += [f"- {s.name} ({len(s.data):,} bytes{', patched' if s.patched else ''})" for s in seeds]
    if missing:
        lines += ["", "Not built on this machine: " + "; ".join(missing)]
    return lines + [""]
