#!/usr/bin/env python3
"""What the restore record's digest costs when patching a big file: `relinterp patch` as
shipped (the original hashed in a thread while the kernel copies the file), the same
with the digest hashed before the copy, and with no digest at all, against
`patchelf --set-interpreter` and `cp`.  Writes bench/RESULTS-digest.md.

    python3 bench/digest.py [--big-mb N] [--repeats N]

The two variants run the real entry point with relinterp.api's writer replaced (see
VARIANT below); everything else is the shipped code.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from pathlib import Path

import run

RESULTS = run.BENCH / "RESULTS-digest.md"
SEQUENTIAL = "relinterp patch, digest before the copy"
NO_DIGEST = "relinterp patch, no digest"


# A variant: the real entry point, with relinterp.api's writer replaced; run as
# `python -c VARIANT NAME ARGS...`, so that it imports no more than `relinterp` does.
VARIANT = f"""
import sys
from relinterp import api
from relinterp.launch import main
from relinterp.rewrite.digest import original_digest
from relinterp.rewrite.plan import plan_patch, restore_facts
from relinterp.rewrite.write import apply_plan

def write_patch(exe, stub, candidates, *, flags=0, target, source=None):
    digest = sys.argv[1] == {SEQUENTIAL!r}
    facts = restore_facts(exe.unpatched, original_digest(exe, source)) if digest else None
    plan = plan_patch(exe, stub, candidates, flags=flags, facts=facts)
    apply_plan(plan, exe.path if source is None else source, target)
    return plan

api.write_patch = write_patch
main(sys.argv[2:])
"""


def tools(script: Path, big: Path, dist: Path) -> list[run.Tool]:
    shipped = run.relinterp_patch(script, big, dist / "bin" / "big")
    found = [run.Tool(run.RELINTERP, shipped, dist / "bin" / "big")]
    for name in (SEQUENTIAL, NO_DIGEST):
        output = dist / "bin" / f"big.{len(found)}"
        argv = [sys.executable, "-c", VARIANT, name, *shipped[1:-1], str(output)]
        found.append(run.Tool(name, argv, output))
    loader = dist / "lib" / "ld-musl.so"
    return found + [t for t in run.patching_tools(script, big, dist / "bin" / "big", loader) if t.name != run.RELINTERP]


def report(command: str, machine: dict, size: int, repeats: int, usages: dict[str, list[run.Usage]]) -> str:
    patchelf = statistics.median(u.wall_ns for u in usages[run.PATCHELF])
    rows = []
    for name, runs in usages.items():
        walls = [u.wall_ns / 1e6 for u in runs]
        rows.append([name, f"{statistics.median(walls):.0f}", f"{min(walls):.0f}–{max(walls):.0f}",
                     f"{statistics.median(walls) * 1e6 / patchelf:.2f}",
                     f"{max(u.peak_rss_kib for u in runs) / 1024:.1f}"])
    return f"""# Patching a big file: what the digest costs

Written by `{command}`.  A {size:,} byte musl program, warm in the page cache; each
command in a fresh child, {repeats} interleaved rounds after one warm-up (run.py's
section 2).  The machine is shared: compare within one table, not across reports.

{run.table(["", ""], [[k, v] for k, v in machine.items()])}

{run.table(["Command", "median wall ms", "min–max ms", "÷ patchelf, median", "peak RSS MiB"], rows)}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-mb", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    work = run.WORK / "digest"
    script, machine = run.start_bench(work)
    probe = run.build_probe(work)
    big = run.build_big(work / "big", args.big_mb)
    dist = run.make_dist(big.parent)
    usages = run.measure_patching(probe, tools(script, big, dist), args.repeats)
    text = report(shlex.join(["python3", *sys.argv]), machine, big.stat().st_size, args.repeats, usages)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
