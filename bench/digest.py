#!/usr/bin/env python3
"""What the restore record's digest costs when patching a big file: `relinterp patch` as
shipped (the original hashed in a thread while the kernel copies the file), the same
with the digest hashed before the copy, and with no digest at all, against
`patchelf --set-interpreter` and `cp`.  Writes bench/RESULTS-digest.md.

    python3 bench/digest.py [--big-mb N] [--repeats N]

The two variants run the real command line with relinterp.api's writer replaced (see
`variant` below); everything else is the shipped code.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import sys
from pathlib import Path

import run

RESULTS = run.BENCH / "RESULTS-digest.md"
SEQUENTIAL = "relinterp patch, digest before the copy"
NO_DIGEST = "relinterp patch, no digest"


def variant(name: str, argv: list[str]) -> None:
    """Run relinterp's command line with the patch written as variant `name` does."""
    from relinterp import api, cli
    from relinterp.rewrite.digest import original_digest
    from relinterp.rewrite.plan import plan_patch, restore_facts
    from relinterp.rewrite.write import apply_plan

    def write_patch(exe, stub, candidates, *, flags=0, target):
        facts = restore_facts(exe.unpatched, original_digest(exe)) if name == SEQUENTIAL else None
        plan = plan_patch(exe, stub, candidates, flags=flags, facts=facts)
        apply_plan(plan, exe.path, target)
        return plan

    api.write_patch = write_patch
    sys.argv = ["relinterp", *argv]
    cli.main()


def tools(script: Path, big: Path, dist: Path) -> list[run.Tool]:
    shipped = run.relinterp_patch(script, big, dist / "bin" / "big")
    found = [run.Tool(run.RELINTERP, shipped, dist / "bin" / "big")]
    for name in (SEQUENTIAL, NO_DIGEST):
        output = dist / "bin" / f"big.{len(found)}"
        argv = [sys.executable, __file__, "--variant", name, "--", *shipped[1:-1], str(output)]
        found.append(run.Tool(name, argv, output))
    loader = dist / "lib" / "ld-musl.so"
    return found + [t for t in run.patching_tools(script, big, dist / "bin" / "big", loader) if t.name != run.RELINTERP]


def report(command: str, machine: dict, size: int, repeats: int, usages: dict[str, list[run.Usage]]) -> str:
    patchelf = statistics.median(u.wall_ns for u in usages[run.PATCHELF])
    lines = [
        "# Patching a big file: what the digest costs", "",
        f"`{command}`: a {size / 1e6:.0f} MB musl program, {repeats} interleaved runs of each "
        "(wall time, fresh process; the system's page cache warm).", "",
        *(f"- {key}: {value}" for key, value in machine.items()), "",
        "| command | median ms | min ms | × patchelf (median) | peak RSS MiB |", "|---|---|---|---|---|",
    ]
    for name, runs in usages.items():
        walls = [u.wall_ns / 1e6 for u in runs]
        lines.append(f"| {name} | {statistics.median(walls):.0f} | {min(walls):.0f} | "
                     f"{statistics.median(walls) * 1e6 / patchelf:.2f} | {max(u.peak_rss_kib for u in runs) / 1024:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-mb", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--variant", choices=(SEQUENTIAL, NO_DIGEST))
    parser.add_argument("argv", nargs="*")
    args = parser.parse_args()
    if args.variant:
        return variant(args.variant, args.argv)
    run.check_tools()
    script = run.relinterp_script()
    work = run.WORK / "digest"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    probe = run.build_probe(work)
    big = run.build_big(work / "big", args.big_mb)
    dist = run.make_dist(big.parent)
    usages = run.measure_patching(probe, tools(script, big, dist), args.repeats)
    text = report(shlex.join(["python3", *sys.argv]), run.describe_machine(), big.stat().st_size, args.repeats, usages)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
