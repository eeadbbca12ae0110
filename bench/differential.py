#!/usr/bin/env python3
"""The stub against the kernel: a real loader (Debian's musl, x86_64 and i386) is mutated —
its ELF header and program headers, its mode and owner, its file type, a writer holding
it open, the user running it — and run as PT_INTERP twice: by the kernel (a hello world
whose PT_INTERP names the file) and by the stub (the same program patched with
`--loader` naming it), each under bench/src/difftrace.c, and the patched one again with
a debugger's breakpoint on `_dl_debug_state`.  Both outcomes are classified (ran,
refused, crashed, hung, fault in the stub's code) and compared; a disagreement that
docs/robustness.md does not list, or any fault in the stub's code, fails the run.
`--gdb N` also runs N of the cases under gdb, both ways.

Needs root (loader owners, device nodes, the users the cases run as).  Writes
bench/RESULTS-differential.md; exit status 1 on any undocumented disagreement.

    python3 bench/differential.py --cases 150000 -j 2 --gdb 1000
    python3 bench/differential.py --replay 1234 [--keep loader.bin]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import sys
import time
from pathlib import Path
from queue import Empty

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kerneldiff.case import make_case  # noqa: E402
from kerneldiff.gdb import run_case_under_gdb  # noqa: E402
from kerneldiff.judge import classify, documented, executable_not_readable, undocumented_in_docs, verdict  # noqa: E402,E501
from kerneldiff.report import Tally, render  # noqa: E402
from kerneldiff.run import LOADERS, build, run_case, tracer, workspace_ok  # noqa: E402
from run import describe_machine  # noqa: E402

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "RESULTS-differential.md"
ARCH_WEIGHTS = {"x86_64": 2, "i386": 1}
PROGRESS_EVERY = 5000
GDB_HINTS = ("p_type", "p_flags", "e_phoff", "PT_DYNAMIC", "table moved", "zero-size")


def compare(case, sides: dict, programs, pairs: dict[str, tuple[str, str]]) -> dict:
    out = {name: classify(side, programs, name.startswith("stub")) for name, side in sides.items()}
    comparisons = {}
    for mode, (kernel_name, stub_name) in pairs.items():
        kernel, stub = out[kernel_name], out[stub_name]
        v = verdict(kernel, stub)
        d = documented(case, kernel, stub) if v else None
        hooked = int(sides[stub_name].report.get("bp", "0") != "0")
        comparisons[mode] = ((kernel.kind, kernel.detail), (stub.kind, stub.detail), v, d.name if d else None, hooked)
    return comparisons


def case_inputs(args) -> tuple[list[tuple[str, int]], dict[str, bytes]]:
    """The architectures' weights and their loaders' bytes, which every case is made from."""
    return [(a, ARCH_WEIGHTS[a]) for a in args.arch], {a: LOADERS[a].read_bytes() for a in args.arch}


def worker(number: int, tasks: list[tuple[int, str]], args, queue) -> None:
    work = Path(args.work) / f"w{number}"
    programs = {arch: build(arch, work / arch) for arch in args.arch}
    difftrace = tracer(work)
    weights, loaders = case_inputs(args)
    for index, mode in tasks:
        try:
            case = make_case(args.seed, index, weights, loaders)
            if mode == "ptrace":
                sides = run_case(case, programs[case.arch], difftrace, work)
                pairs = {"without a debugger": ("kernel", "stub"), "with a breakpoint": ("kernel", "stub+debugger")}
            else:
                sides = run_case_under_gdb(case, programs[case.arch], work)
                pairs = {"under gdb": ("kernel+gdb", "stub+gdb")}
            queue.put({"index": index, "mode": mode, "arch": case.arch, "family": case.family,
                       "case": case.describe(), "comparisons": compare(case, sides, programs[case.arch], pairs)})
        except Exception as error:  # a harness failure is reported, not hidden
            queue.put({"index": index, "mode": mode, "error": f"{type(error).__name__}: {error}"})
    queue.put(None)


def gdb_sample(args) -> list[int]:
    """The cases also run under gdb: mostly those that moved or retyped what the debugger
    hook reads (the issue's faults were there), the rest at random."""
    rng = random.Random(f"{args.seed}:gdb")
    weights, loaders = case_inputs(args)
    picked, candidates = [], list(range(args.cases))
    rng.shuffle(candidates)
    for index in candidates:
        if len(picked) >= args.gdb:
            break
        case = make_case(args.seed, index, weights, loaders)
        if executable_not_readable(case):  # the kernel's process is not dumpable: gdb cannot trace it
            continue
        if any(h in " ".join(case.mutations) for h in GDB_HINTS) or rng.random() < 0.2:
            picked.append(index)
    return picked


def run_all(args) -> Tally:
    tasks = [(i, "ptrace") for i in range(args.cases)] + [(i, "gdb") for i in gdb_sample(args)]
    queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=worker, args=(k, tasks[k::args.jobs], args, queue))
             for k in range(args.jobs)]
    for p in procs:
        p.start()
    tally, running, done = Tally(), len(procs), 0
    while running:
        try:
            result = queue.get(timeout=60)
        except Empty:  # a worker that died says nothing more
            if any(p.is_alive() for p in procs):
                continue
            tally.errors.append({"error": "a worker died"})
            break
        if result is None:
            running -= 1
            continue
        tally.add(result)
        done += 1
        if done % PROGRESS_EVERY == 0:
            print(f"{done} runs, {tally.failures()} undocumented", file=sys.stderr, flush=True)
    for p in procs:
        p.join()
    return tally


def replay(args) -> int:
    work = Path(args.work) / "replay"
    shutil.rmtree(work, ignore_errors=True)
    case = make_case(args.seed, args.replay, *case_inputs(args))
    programs = build(case.arch, work / case.arch)
    print(case.describe())
    if args.keep:
        Path(args.keep).write_bytes(case.data)
    for name, side in {**run_case(case, programs, tracer(work), work),
                       **run_case_under_gdb(case, programs, work)}.items():
        print(f"{name}: {classify(side, programs, name.startswith('stub'))}  {side.report}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--arch", action="append", choices=sorted(ARCH_WEIGHTS))
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--gdb", type=int, default=0, help="cases also run under gdb")
    parser.add_argument("--work", default=str(BENCH / "work" / "differential"))
    parser.add_argument("--report", default=str(RESULTS))
    parser.add_argument("--json", help="also write the tally as JSON here")
    parser.add_argument("--replay", type=int, help="run case N alone and show it")
    parser.add_argument("--keep", help="with --replay: save the case's loader bytes here")
    args = parser.parse_args()
    args.arch = args.arch or sorted(ARCH_WEIGHTS)
    if os.geteuid() != 0:
        parser.error("needs root: loader owners, device nodes and the users the cases run as")
    if args.replay is not None:
        return replay(args)
    shutil.rmtree(args.work, ignore_errors=True)
    Path(args.work).mkdir(parents=True)
    os.chmod(args.work, 0o755)
    if (why := workspace_ok(Path(args.work))) is not None:
        parser.error(f"--work {args.work}: the cases' users must reach it: {why}")
    started = time.monotonic()
    tally = run_all(args)
    missing = undocumented_in_docs()
    for doc in missing:
        tally.errors.append({"error": f"docs/robustness.md does not say: {doc}"})
    command = "python3 bench/differential.py " + " ".join(sys.argv[1:])
    machine = describe_machine(musl=os.path.realpath(LOADERS["x86_64"]))
    Path(args.report).write_text(render(tally, command, machine, time.monotonic() - started))
    if args.json:
        Path(args.json).write_text(json.dumps(tally.as_json(), indent=1))
    print(f"{tally.cases} cases, {tally.failures()} undocumented disagreements or stub faults; wrote {args.report}")
    return 1 if tally.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
