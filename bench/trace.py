#!/usr/bin/env python3
"""What `relinterp bundle --trace` adds to a bundle, against the traced command's own
run time.  Target: no more than that run time plus 1 s.

For each workload (Debian's python3.11 with the import probe, with many imports,
CPU-bound, and stat()ing every file of its standard library; gcc-ar archiving an LTO
object, which runs ar; date), in fresh children, one round after another, each round in
a shuffled order (fixed seed):
  - the command alone, in the environment a traced run gets (relinterp.bundle.discover);
  - the command under strace with the tracer's own options, log to a file;
  - `relinterp bundle PROGRAM -o OUT -n` and the same with `--trace ARGS`: the plan only;
  - `relinterp bundle PROGRAM -o OUT` and the same with `--trace ARGS`, into a new directory.
What --trace adds = bundle --trace − bundle, medians: tracing (the run under strace,
reading the log, placing what it used: the difference of the -n variants) and then
copying what it found (python's standard library).  For the heaviest workload, where
the time goes, in this process (each phase's function timed), against `cp -a` of the
library it walks.  Every tree and copy goes to a new directory and nothing is deleted
while commands are timed (see bench/tree.py: file creation waits for the discards of
deleted files).  Writes bench/RESULTS-trace.md; builds in bench/work/trace/ (wiped
first).

    nice python3 bench/trace.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import BENCH, ROOT, check_output, describe_machine, relinterp_script, settle, table  # noqa: E402

sys.path.insert(0, str(ROOT))
from relinterp.bundle import assemble, discover, plan as planner  # noqa: E402
from relinterp.bundle.discover import neutral_environment  # noqa: E402
from relinterp.trace import run as tracer  # noqa: E402
from relinterp.trace.run import STRACE_OPTIONS  # noqa: E402
from relinterp.rewrite.write import find_patchelf  # noqa: E402

WORK = BENCH / "work" / "trace"
RESULTS = BENCH / "RESULTS-trace.md"
ALLOWANCE_S = 1.0
PYTHON = "/usr/bin/python3.11"
HEAVIEST = "python3.11, stats its 1,400 library files"
PHASES = (  # (module, function, what it does), in order
    (tracer, "_run", "the run under strace"),
    (tracer, "_read_log", "reading the log"),
    (discover, "describe", "what each path is"),
    (discover, "place_traced", "placing what it used"),
    (discover, "run_time_loads", "start-up closure out, loads by name"),
    (planner, "plan_placed", "planning the tree (all files)"),
    (planner, "_check_objects", "of which closure and glibc checks"),
    (assemble, "build_bundle", "copying, setting lists, patching, the SBOM (all files)"),
)
WORKLOADS = {  # name -> (program, --trace ARGS)
    "python3.11, import probe": (PYTHON, "-c 'import ssl, sqlite3, ctypes, lzma, bz2, decimal, json'"),
    "python3.11, 40 modules": (PYTHON, "-c 'import email.mime.multipart, http.client, xml.dom.minidom, asyncio, "
                                       "unittest, argparse, logging, csv, sqlite3, tarfile, zipfile, pydoc'"),
    "python3.11, CPU-bound": (PYTHON, "-c 'sum(i * i for i in range(6_000_000))'"),
    HEAVIEST: (
        PYTHON, "-c 'import os; [os.stat(os.path.join(d, f)) for d, _, fs in os.walk(\"/usr/lib/python3.11\") "
                "for f in fs]'"),
    "gcc-ar rcs (runs ar)": ("/usr/bin/gcc-ar", "rcs lib.a f.o"),
    "date": ("/usr/bin/date", "+%Y"),
}
VARIANTS = ("command", "under strace", "bundle -n", "bundle -n --trace", "bundle", "bundle --trace")


def prepare(work: Path) -> None:
    (work / "f.c").write_text("int f(void) { return 42; }\n")
    subprocess.run(["gcc", "-flto", "-c", "f.c", "-o", "f.o"], cwd=work, check=True)


def commands(script: Path, work: Path, round_: int) -> dict[tuple[str, str], list[str]]:
    """(workload, variant) -> argv; the trees of each round go to new directories."""
    found = {}
    for index, (name, (program, args)) in enumerate(WORKLOADS.items()):
        argv = [program, *shlex.split(args)]
        out, traced = work / f"out{index}-{round_}", work / f"traced{index}-{round_}"
        found[name, "command"] = argv
        found[name, "under strace"] = ["strace", *STRACE_OPTIONS, "-o", str(work / "strace.log"), "--", *argv]
        found[name, "bundle -n"] = [str(script), "bundle", program, "-o", str(out), "-n"]
        found[name, "bundle -n --trace"] = [str(script), "bundle", program, "-o", str(out), "-n", "--trace", args]
        found[name, "bundle"] = [str(script), "bundle", program, "-o", str(out), "-q"]
        found[name, "bundle --trace"] = [str(script), "bundle", program, "-o", str(traced), "-q", "--trace", args]
    return found


def measure(runs: int, work: Path, script: Path) -> dict[tuple[str, str], list[float]]:
    env = neutral_environment(os.environ)
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in commands(script, work, 0)}
    rng = random.Random(22)
    settle(work)
    for round_ in range(runs + 1):  # round 0 warms the page cache and is not kept
        argvs = commands(script, work, round_)
        keys = list(argvs)
        rng.shuffle(keys)
        for key in keys:
            argv = argvs[key]
            start = time.perf_counter()
            subprocess.run(argv, check=True, cwd=work, env=env, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            if round_:
                samples[key].append(time.perf_counter() - start)
    return samples


def measure_phases(runs: int, work: Path) -> dict[str, list[float]]:
    """The heaviest workload bundled with --trace in this process, each phase timed; and
    `cp -a` of the directory it walks, for the cost of copying it at all."""
    spent: dict[str, list[float]] = {what: [] for _, _, what in PHASES}  # per round: the phase's total
    for module, name, what in PHASES:
        setattr(module, name, _timed(getattr(module, name), spent[what]))
    program, args = WORKLOADS[HEAVIEST]
    spent["`cp -a /usr/lib/python3.11`"] = copies = []
    os.environ.update(LC_ALL="C")
    settle(work)
    for round_ in range(runs + 1):
        for values in spent.values():
            values.append(0.0)
        output = work / f"phases-{round_}"
        options = planner.BundleOptions()
        traced = discover.discover([program], str(output), options, discover.TraceRequest((args,)))
        plan = planner.plan_bundle([program], str(output), replace(options, additions=traced.additions))
        assemble.build_bundle(replace(plan, from_target=traced.from_target))
        start = time.perf_counter()
        subprocess.run(["cp", "-a", "/usr/lib/python3.11", str(work / f"cp-a-{round_}")], check=True)
        copies[-1] = time.perf_counter() - start
    return {what: values[1:] for what, values in spent.items()}  # round 0 warms the caches


def _timed(function, into: list[float]):
    """`function`, adding the time each call takes to the last figure of `into`."""
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            into[-1] += time.perf_counter() - start
    return timed


def report(samples: dict[tuple[str, str], list[float]], phases: dict[str, list[float]], runs: int,
           machine: dict[str, str]) -> str:
    med = {key: statistics.median(values) for key, values in samples.items()}
    rows, added_rows, verdicts, tracing_only = [], [], [], []
    for name in WORKLOADS:
        own, added = med[name, "command"], med[name, "bundle --trace"] - med[name, "bundle"]
        tracing = med[name, "bundle -n --trace"] - med[name, "bundle -n"]
        met = added <= own + ALLOWANCE_S
        verdicts.append(met)
        tracing_only.append(tracing <= own + ALLOWANCE_S)
        rows.append([name, *(f"{med[name, v] * 1000:.0f}" for v in VARIANTS)])
        added_rows.append([name, f"{own * 1000:.0f}", f"{med[name, 'under strace'] / own:.2f}",
                           f"{tracing * 1000:.0f}", f"{(added - tracing) * 1000:.0f}", f"{added * 1000:.0f}",
                           f"{(own + ALLOWANCE_S) * 1000:.0f}", "met" if met else "MISSED"])
    spread = [[name, *(f"{min(samples[name, v]) * 1000:.0f}–{max(samples[name, v]) * 1000:.0f}" for v in VARIANTS)]
              for name in WORKLOADS]
    return "\n".join([
        "# relinterp bundle --trace: what tracing adds", "",
        f"Produced by `nice python3 bench/trace.py --runs {runs}`.  Each figure: the median of {runs} runs after "
        "one warm-up round, wall time in ms, every variant of every workload once per round in a shuffled order; "
        "each tree and copy goes to a new directory and nothing is deleted while commands are timed (file "
        "creation here waits for the discards of deleted files: bench/tree.py).", "",
        "## Machine", "", table(["", ""], [[k, v] for k, v in machine.items()]), "",
        "## Target", "",
        f"`--trace` adds no more than the traced command's own run time plus {ALLOWANCE_S:g} s: "
        f"{'met for every workload' if all(verdicts) else 'MISSED for some'}.  Tracing alone (the run under "
        f"strace, reading its log, placing what it used) stays within that limit "
        f"{'in every workload' if all(tracing_only) else 'NOT in every workload'}; what is left is bundling "
        "the files the run used, which costs what copying them costs (below: `cp -a`).", "",
        "## What --trace adds (ms, medians)", "",
        table(["workload", "command", "strace ÷ command", "tracing", "bundling what it found", "--trace adds",
               "limit", ""], added_rows), "",
        "`tracing` = `bundle -n --trace` − `bundle -n`: the run under strace, reading its log, learning what each "
        "path is and placing it.  `bundling what it found` = the rest of `bundle --trace` − `bundle`: copying "
        "those files into the tree (python: its standard library and extension modules) and the closure and "
        "glibc checks of the libraries among them.", "",
        "## Wall time (ms, medians)", "", table(["workload", *VARIANTS], rows), "",
        f"## Where the time goes: {HEAVIEST} (ms, medians, in this process)", "",
        table(["phase", "ms"], [[what, f"{statistics.median(values) * 1000:.0f}"] for what, values in phases.items()]),
        "",
        "## Range (ms, min–max)", "", table(["workload", *VARIANTS], spread), "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    for tool in ("strace", "gcc", PYTHON, "/usr/bin/gcc-ar"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found (apt-get install strace gcc python3.11)")
    script = relinterp_script()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    prepare(WORK)
    machine = describe_machine(strace=check_output(["strace", "-V"]).splitlines()[0],
                               patchelf=check_output([find_patchelf(), "--version"]).strip())
    samples = measure(args.runs, WORK, script)
    RESULTS.write_text(report(samples, measure_phases(args.runs, WORK), args.runs, machine))
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
