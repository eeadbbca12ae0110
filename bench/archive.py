#!/usr/bin/env python3
"""How long `relinterp bundle --tar` takes for a 60 MB tree, against bundling and then
`tar -czf` of the same tree.

The tree: Debian's cmake (/usr/bin/cmake and its 46 libraries, 66 MB; `apt-get install
cmake`).  Timed in fresh children, in bench/work/archive/ (wiped first), each round in
the same order after one warm-up round that is not kept:
  - `relinterp bundle cmake -o T`;
  - `tar -czf T.tar.gz T` of that tree (GNU tar, gzip at its default level);
  - `relinterp bundle cmake -o T --tar T.tar.gz` (the default compression), and with
    each --compress choice;
  - with --baseline, the same `bundle --tar` by another relinterp (an older version).
Target: `bundle --tar` ≤ 1.5 × (bundle + tar -czf).  Writes bench/RESULTS-archive.md.

    python3 bench/archive.py [--runs N] [--baseline /path/to/older/bin/relinterp]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import BENCH, Spread, describe_machine, relinterp_script, table  # noqa: E402

WORK = BENCH / "work" / "archive"
RESULTS = BENCH / "RESULTS-archive.md"
PROGRAM = "/usr/bin/cmake"
TARGET_RATIO = 1.5
CHOICES = ("gzip:1", "gzip:9", "xz:1", "zstd", "none")
SUFFIX = {"gzip": ".tar.gz", "xz": ".tar.xz", "zstd": ".tar.zst", "none": ".tar"}


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=cwd)
    return time.perf_counter() - start


def variants(script: str, baseline: str | None) -> dict[str, list[str]]:
    bundle = [script, "bundle", PROGRAM, "-o"]
    commands = {
        "bundle": [*bundle, "plain"],
        "tar -czf of that tree": ["tar", "-czf", "plain.tar.gz", "plain"],
        "bundle --tar (default: gzip:6)": [*bundle, "tarred", "--tar", "tarred.tar.gz"],
    }
    for choice in CHOICES:
        if choice.startswith("zstd") and shutil.which("zstd") is None:
            continue
        name = f"c-{choice.replace(':', '')}"
        suffix = SUFFIX[choice.split(":")[0]]
        commands[f"bundle --tar --compress {choice}"] = [*bundle, name, "--tar", name + suffix, "--compress", choice]
    if baseline:
        commands["baseline: bundle --tar"] = [baseline, "bundle", PROGRAM, "-o", "old", "--tar", "old.tar.gz"]
    return commands


def measure(commands: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(runs + 1):  # round 0 warms the page cache and is not kept
        for name, argv in commands.items():
            elapsed = timed(argv, WORK)
            if round_:
                samples[name].append(elapsed)
    return samples


def sizes() -> dict[str, int]:
    tree = sum(f.stat().st_size for f in (WORK / "plain").rglob("*") if f.is_file() and not f.is_symlink())
    archives = {p.name: p.stat().st_size for p in WORK.iterdir() if ".tar" in p.name}
    return {"tree": tree, **archives}


def version(script: str) -> str:
    return subprocess.run([script, "--version"], capture_output=True, text=True).stdout.splitlines()[0]


def render(command: str, samples: dict[str, list[float]], runs: int, script: str, baseline: str | None) -> str:
    median = {name: Spread.of(s).median for name, s in samples.items()}
    budget = median["bundle"] + median["tar -czf of that tree"]
    ratio = median["bundle --tar (default: gzip:6)"] / budget
    machine = describe_machine(tar=subprocess.run(["tar", "--version"], capture_output=True, text=True)
                               .stdout.splitlines()[0], command=f"{version(script)} ({script})",
                               **({"baseline": f"{version(baseline)} ({baseline})"} if baseline else {}))
    rows = [[name, f"{Spread.of(s).median:.2f}", f"{Spread.of(s).p10:.2f}", f"{Spread.of(s).p90:.2f}",
             f"{Spread.of(s).median / budget:.2f}"] for name, s in samples.items()]
    mib = 1 << 20
    size_rows = [[name, f"{size / mib:.1f}"] for name, size in sorted(sizes().items())]
    verdict = "met" if ratio <= TARGET_RATIO else "**missed**"
    return "\n\n".join([
        "# relinterp bundle --tar: a 60 MB tree",
        f"Produced by `{command}`.  Each figure: {runs} runs after one warm-up, wall time in seconds.  The tree: "
        f"`{PROGRAM}` and its libraries, bundled by `relinterp bundle {PROGRAM} -o DIR`.",
        "## Machine\n\n" + table(["", ""], [[k, v] for k, v in machine.items()]),
        "## Target\n\n" + table(["Target", "Figure", ""], [[
            f"`bundle --tar` ≤ {TARGET_RATIO:g} × (`bundle` + `tar -czf`)", f"{ratio:.2f} ×", verdict]]),
        "## Wall time (s)\n\nThe last column: the median over (bundle + tar -czf).\n\n"
        + table(["", "median", "p10", "p90", "× budget"], rows),
        "## Sizes (MiB)\n\n" + table(["", "MiB"], size_rows),
    ]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", help="another relinterp command to time `bundle --tar` with")
    args = parser.parse_args()
    if not os.path.exists(PROGRAM):
        sys.exit(f"{PROGRAM} not found: apt-get install cmake")
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    script = str(relinterp_script())
    samples = measure(variants(script, args.baseline), args.runs)
    RESULTS.write_text(render(shlex.join(["python3", *sys.argv]), samples, args.runs, script, args.baseline))
    for name, s in samples.items():
        print(f"{name}: median {Spread.of(s).median:.2f} s")


if __name__ == "__main__":
    main()
