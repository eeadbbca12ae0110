#!/usr/bin/env python3
"""Fuzz `relinterp patch`, `inspect` and `restore` with hostile and broken ELF files.

Seeds are real programs built here (bench/fuzzing/seeds.py: musl, glibc, C++, static,
shared, every cross gcc present, files already patched); each case mutates one
(bench/fuzzing/mutate.py) and runs it in a forked child with a time and memory limit
(bench/fuzzing/case.py), from workers that imported relinterp once.  Case N is the same
file and options on every run with the same --seed: `--replay N` shows it.

Writes bench/RESULTS-fuzz.md: cases, what each operation did (refusals by kind,
successes by status), defects by class with examples to replay, hangs, peak RSS.

    python3 bench/fuzz.py --cases 250000 -j 2
    python3 bench/fuzz.py --replay 1234 [--keep case.bin]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from importlib.metadata import entry_points
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzzing.case import Case, Limits, run_cases  # noqa: E402
from fuzzing.mutate import mutate  # noqa: E402
from fuzzing.seeds import Seed, build_seeds  # noqa: E402

BENCH = Path(__file__).resolve().parent
WORK = BENCH / "work" / "fuzz"
RESULTS = BENCH / "RESULTS-fuzz.md"
EXAMPLES_PER_DEFECT = 3
PROGRESS_EVERY = 5000


def relinterp_modules():
    """The Python API, its errors and the command line's entry point, imported once."""
    import relinterp.api as api
    import relinterp.errors as errors

    main = next(e for e in entry_points(group="console_scripts") if e.name == "relinterp").load()
    return api, errors, main


def patch_options(rng: random.Random) -> dict:
    """The loader options of a case: one relative candidate, several with the system
    fallback, none (derived from DT_RUNPATH), or the fallback alone."""
    pick = rng.random()
    if pick < 0.4:
        return {"loader_rel": ["../lib/ld.so"]}
    if pick < 0.6:
        return {}
    if pick < 0.8:
        return {"loader_rel": ["../lib/ld.so", "x/ld.so"], "loader": ["/opt/ld.so"], "fallback_system": True}
    return {"fallback_system": True}


def make_case(seed_value: int, index: int, seeds: list[Seed]) -> tuple[Seed, bytes, list[str], dict]:
    rng = random.Random(f"{seed_value}:{index}")
    seed = rng.choice(seeds)
    data, mutations = mutate(rng, seed.data, seed.patched)
    return seed, data, mutations, patch_options(rng)


class Tally:
    """Everything a run found, merged over workers."""

    def __init__(self) -> None:
        self.cases = 0
        self.ops: dict[str, Counter] = defaultdict(Counter)
        self.defects: Counter = Counter()
        self.examples: dict[str, list] = defaultdict(list)
        self.rss_kib: Counter = Counter()  # MiB bucket -> cases
        self.max_rss_kib = 0

    def add(self, index: int, seed: Seed, mutations: list[str], options: dict, report: dict) -> None:
        self.cases += 1
        for op, outcome in report["ops"].items():
            self.ops[op][outcome] += 1
        for kind, detail in report["defects"]:
            self.defects[kind] += 1
            if len(self.examples[kind]) < EXAMPLES_PER_DEFECT:
                self.examples[kind].append({"case": index, "seed": seed.name, "mutations": mutations,
                                            "options": options, "detail": detail})
        self.rss_kib[report["rss_kib"] // 1024] += 1
        self.max_rss_kib = max(self.max_rss_kib, report["rss_kib"])

    def to_json(self) -> dict:
        return {"cases": self.cases, "ops": self.ops, "defects": self.defects, "examples": self.examples,
                "rss_kib": self.rss_kib, "max_rss_kib": self.max_rss_kib}

    def merge(self, data: dict) -> None:
        self.cases += data["cases"]
        for op, counts in data["ops"].items():
            self.ops[op].update(counts)
        self.defects.update(data["defects"])
        for kind, examples in data["examples"].items():
            self.examples[kind] = (self.examples[kind] + examples)[:EXAMPLES_PER_DEFECT]
        self.rss_kib.update({int(k): v for k, v in data["rss_kib"].items()})
        self.max_rss_kib = max(self.max_rss_kib, data["max_rss_kib"])


def work(worker: int, jobs: int, args, seeds: list[Seed], modules, deadline: float, out) -> None:
    """Cases worker, worker + jobs, ... below args.cases, until the deadline."""
    tally = Tally()
    limits = Limits(seconds=args.time_limit, memory=args.memory_limit << 20)
    scratch = Path(tempfile.mkdtemp(prefix=f"relinterp-fuzz-{worker}-", dir=args.scratch))
    case_dir = scratch / "case"
    case_dir.mkdir()
    path = str(case_dir / "app")
    try:
        numbers = range(args.first + worker, args.first + args.cases, jobs)
        for start in range(0, len(numbers), args.batch):
            if time.time() > deadline:
                break
            made = [(index, *make_case(args.seed, index, seeds)) for index in numbers[start : start + args.batch]]
            cases = [Case(index, data, options) for index, _, data, _, options in made]
            for (index, seed, _, mutations, options), report in zip(made, run_cases(cases, path, limits, modules)):
                tally.add(index, seed, mutations, options, report)
            if worker == 0 and tally.cases // PROGRESS_EVERY != (tally.cases - len(made)) // PROGRESS_EVERY:
                print(f"fuzz: {tally.cases * jobs} cases, {sum(tally.defects.values())} defects (worker 0)",
                      file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    out.write(json.dumps(tally.to_json()))


def run_workers(args, seeds: list[Seed], modules) -> tuple[Tally, float]:
    deadline = time.time() + args.max_seconds if args.max_seconds else float("inf")
    gc.collect()
    gc.freeze()  # the children inherit these objects; leave their pages shared
    started = time.monotonic()
    children = []
    for worker in range(args.jobs):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            with os.fdopen(write_end, "w") as out:
                work(worker, args.jobs, args, seeds, modules, deadline, out)
            os._exit(0)
        os.close(write_end)
        children.append((pid, read_end))
    tally = Tally()
    for pid, read_end in children:
        with os.fdopen(read_end) as stream:
            text = stream.read()
        os.waitpid(pid, 0)
        if text:
            tally.merge(json.loads(text))
    return tally, time.monotonic() - started


def warm_up(seeds: list[Seed], modules) -> None:
    """Read and plan every seed once in this process, so that the stubs and the struct
    definitions are loaded before forking: the cases then only pay for their own work."""
    api, errors, _ = modules
    with tempfile.TemporaryDirectory() as scratch:
        for seed in seeds:
            path = Path(scratch) / seed.name
            path.write_bytes(seed.data)
            for operation in (lambda: api.inspect(path), lambda: api.patch(path, loader_rel="x", dry_run=True)):
                try:
                    operation()
                except errors.RelinterpError:
                    pass


def replay(args, seeds: list[Seed], modules) -> int:
    seed, data, mutations, options = make_case(args.seed, args.replay, seeds)
    print(f"case {args.replay}: seed {seed.name}, {len(data)} bytes; options {options}")
    for mutation in mutations:
        print(f"  mutation: {mutation}")
    if args.keep:
        Path(args.keep).write_bytes(data)
        print(f"  written to {args.keep}")
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        (Path(scratch) / "case").mkdir()
        report = run_cases([Case(args.replay, data, options)], str(Path(scratch) / "case" / "app"),
                           Limits(args.time_limit, args.memory_limit << 20), modules)[0]
    print(json.dumps(report, indent=2))
    return 1 if report["defects"] else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--first", type=int, default=0, help="the first case number")
    parser.add_argument("-j", "--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--seed", type=int, default=1, help="the run's seed: case N is the same for the same seed")
    parser.add_argument("--batch", type=int, default=16, help="cases per forked child (a child that dies has its "
                        "case run again alone)")
    parser.add_argument("--time-limit", type=int, default=20, help="seconds per case before it counts as a hang")
    parser.add_argument("--memory-limit", type=int, default=1024, help="MiB of address space per case")
    parser.add_argument("--max-seconds", type=float, default=0, help="stop after this long (0: no limit)")
    parser.add_argument("--scratch", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="where the case files are written (default: /dev/shm)")
    parser.add_argument("--report", type=Path, default=RESULTS)
    parser.add_argument("--json", type=Path, help="also write the tally as JSON")
    parser.add_argument("--replay", type=int, help="run case N alone and show it")
    parser.add_argument("--keep", help="with --replay: write the case's file here")
    args = parser.parse_args()

    seeds, missing = build_seeds(WORK / "seeds")
    modules = relinterp_modules()
    warm_up(seeds, modules)
    if args.replay is not None:
        return replay(args, seeds, modules)
    tally, seconds = run_workers(args, seeds, modules)
    from fuzzing.report import write_report

    write_report(args.report, tally, seconds, args, seeds, missing, sys.argv)
    if args.json:
        args.json.write_text(json.dumps(tally.to_json(), indent=1))
    print(f"fuzz: {tally.cases} cases in {seconds:.0f} s ({tally.cases / seconds:.0f}/s), "
          f"{sum(tally.defects.values())} defects; peak RSS {tally.max_rss_kib / 1024:.1f} MiB; "
          f"report: {args.report}")
    return 1 if tally.defects else 0


if __name__ == "__main__":
    sys.exit(main())
