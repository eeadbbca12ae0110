#!/usr/bin/env python3
"""Start-up cost of loader discovery: a patched musl hello world with one candidate, and
with four of which the first three miss, each against the unpatched program.

Builds in bench/work/discovery/ (wiped first), writes bench/RESULTS-discovery.md and
prints a summary.  Uses bench/run.py's spawning and statistics, so the figures compare
with its start-up section.

    python3 bench/discovery.py [--spawns N]
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as common  # noqa: E402  (bench/run.py)

WORK = common.WORK / "discovery"
RESULTS = common.BENCH / "RESULTS-discovery.md"
MISSES = ("../lib/missing-1.so", "../lib64/missing-2.so", "../missing-3/ld.so")

# (variant, candidate options, target ratio to the unpatched program)
PATCHED = (
    ("1 candidate", ("--loader-rel", common.LOADER_REL), 1.05),
    ("4 candidates, 3 miss", tuple(a for rel in (*MISSES, common.LOADER_REL) for a in ("--loader-rel", rel)), 1.08),
)


def build(script: Path) -> list[common.Variant]:
    """The unpatched hello and one patched copy per PATCHED entry, in one dist tree."""
    WORK.mkdir(parents=True)
    hello = common.musl_gcc(WORK / "hello", common.SRC / "hello.c")
    dist = common.make_dist(WORK)
    variants = [common.Variant("unpatched", [str(hello)])]
    for number, (name, options, _) in enumerate(PATCHED):
        patched = dist / "bin" / f"hello-{number}"
        common.check_output([str(script), "patch", str(hello), *options, "-o", str(patched)])
        if common.check_output([str(patched)]) != common.check_output([str(hello)]):
            sys.exit(f"{patched} does not print what {hello} prints")
        variants.append(common.Variant(name, [str(patched)]))
    return variants


def render(command: str, machine: dict[str, str], spawns: int, passes: list[dict[str, common.Spread]],
           elapsed_s: float) -> str:
    target_rows = []
    for name, _, bound in PATCHED:
        ratios = [common.ratio(run, name) for run in passes]
        met = all(r <= bound for r in ratios)
        target_rows.append([f"{name}: patched / unpatched ≤ {bound}", " and ".join(f"{r:.3f}" for r in ratios),
                            "met" if met else "**missed**"])
    options = "\n".join(f"- {name}: `relinterp patch hello {shlex.join(opts)}`" for name, opts, _ in PATCHED)
    stub = json.loads(common.MANIFEST.read_text())["stubs"]["x86_64"]["size"]
    return f"""# relinterp benchmarks: loader discovery

Produced by `{command}` in {elapsed_s:.0f} s on {machine["Date"]}.

## Machine

{common.table(["", ""], [[k, v] for k, v in machine.items()])}

## Targets

{common.table(["Target", "Figure", ""], target_rows)}

## Start-up

A musl hello world (PIE) printing one line to /dev/null, started {spawns} times per
variant and pass after {common.WARMUP_ROUNDS} warm-up rounds, the variants interleaved in a
shuffled order each round; time from `posix_spawn` to `waitpid` (as in
[RESULTS.md](RESULTS.md)).  The unpatched program is loaded by the kernel from its
PT_INTERP; the patched copies sit in `dist/bin/` next to `dist/lib/ld-musl.so`:

{options}

The three misses are paths that do not exist (one failed `openat` each).  Stub blob:
{stub} bytes.  RELINTERP_LOADER and RELINTERP_DEBUG are unset.

{common.startup_table(passes)}

## How to reproduce

`python3 bench/discovery.py` from the project root, with relinterp installed for that
interpreter (`--spawns` for a shorter run).
"""


def main() -> None:
    parser = common.spawns_parser(__doc__, 3000)
    args = parser.parse_args()
    started = time.monotonic()
    common.check_tools()
    script = common.relinterp_script()
    shutil.rmtree(WORK, ignore_errors=True)
    machine = common.describe_machine()
    variants = build(script)
    print(f"{common.STARTUP_PASSES} passes of {args.spawns} interleaved spawns per variant", flush=True)
    passes = common.measure_startup(variants, args.spawns)
    command = shlex.join(["python3", *sys.argv])
    RESULTS.write_text(render(command, machine, args.spawns, passes, time.monotonic() - started))
    for name, _, bound in PATCHED:
        ratios = " and ".join(f"{run[name].median / run['unpatched'].median:.3f}" for run in passes)
        print(f"{name}: {ratios} (target ≤ {bound})")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
