#!/usr/bin/env python3
"""Patching a whole tree: `relinterp patch -r DIR -j 2` against the loop build scripts
write, `patchelf --set-interpreter` once per file (one process per file, in turn).

Builds bench/work/many/ (wiped first): a tree of small executables (copies of a few real
musl programs) with shell scripts, static programs and data files mixed in.  Each command
runs on its own fresh copy of the tree; the commands take turns, so drift in the
machine's speed hits all alike.  Writes bench/RESULTS-many.md.

    python3 bench/many.py [--files N] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (BENCH, LOADER_REL, ROOT, SRC, SYSTEM_LOADER, check_output, musl_gcc, start_bench,  # noqa: E402
                 table)

WORK = BENCH / "work" / "many"
RESULTS = BENCH / "RESULTS-many.md"
TESTS = ROOT / "tests" / "programs"
# Where a build script would point PT_INTERP: longer than the original, as real ones are.
PATCHELF_INTERP = "/opt/example-app/lib/ld-musl-x86_64.so.1"
DIRS = 20
SCRIPTS_PER_100 = 10  # mixed in: shell scripts, static programs, data files
STATICS_PER_100 = 5
DATA_PER_100 = 5
SCRIPT = "#!/bin/sh\nexec \"${0%/*}/tool\" \"$@\"\n"


@dataclass(frozen=True)
class Command:
    name: str
    argv: list[str]  # {tree} and {list} are replaced per run


def build_programs(work: Path) -> tuple[list[Path], Path]:
    """A few real dynamic musl programs, and a static one."""
    out = work / "programs"
    out.mkdir(parents=True)
    lib = musl_gcc(out / "libshared.so", TESTS / "shared.c", flags=("-O2", "-shared", "-fPIC"))
    programs = [
        musl_gcc(out / "hello-pie", SRC / "hello.c"),
        musl_gcc(out / "hello-nopie", SRC / "hello.c", flags=("-O2", "-no-pie", "-fno-pie")),
        musl_gcc(out / "peak-rss", SRC / "peak_rss.c"),
        musl_gcc(out / "probe", TESTS / "probe.c", flags=("-O2", "-fPIE", "-pie", f"-L{out}", "-lshared",
                                                          "-pthread", "-rdynamic", "-Wl,-rpath,$ORIGIN/../lib")),
    ]
    assert lib.exists()
    static = musl_gcc(out / "static", SRC / "hello.c", flags=("-O2", "-static"))
    return programs, static


def build_tree(root: Path, files: int, programs: list[Path], static: Path) -> list[Path]:
    """root/bin<k>/... with `files` dynamic executables and the rest mixed in; returns the
    executables (what a build script would loop over)."""
    executables = []
    for i in range(files):
        directory = root / f"bin{i % DIRS:02d}"
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / f"tool{i:04d}"
        shutil.copy2(programs[i % len(programs)], target)
        executables.append(target)
        if i % 100 < SCRIPTS_PER_100:
            (directory / f"run{i:04d}.sh").write_text(SCRIPT)
            (directory / f"run{i:04d}.sh").chmod(0o755)
        elif i % 100 < SCRIPTS_PER_100 + STATICS_PER_100:
            shutil.copy2(static, directory / f"static{i:04d}")
        elif i % 100 < SCRIPTS_PER_100 + STATICS_PER_100 + DATA_PER_100:
            (directory / f"data{i:04d}.txt").write_text(f"record {i}\n" * 50)
    (root / "lib").mkdir()
    shutil.copy2(os.path.realpath(SYSTEM_LOADER), root / "lib" / "ld-musl.so")
    return executables


def commands(script: Path) -> list[Command]:
    loop = f'while IFS= read -r f; do patchelf --set-interpreter {PATCHELF_INTERP} "$f" || exit 1; done < {{list}}'
    return [
        Command("relinterp patch -r -j 2", [str(script), "patch", "-r", "{tree}", "-j", "2",
                                            "--loader-rel", LOADER_REL]),
        Command("relinterp patch -r -j 1", [str(script), "patch", "-r", "{tree}", "-j", "1",
                                            "--loader-rel", LOADER_REL]),
        Command("patchelf loop (1 process per file)", ["sh", "-c", loop]),
    ]


def timed_run(command: Command, template: Path, listing: Path, scratch: Path) -> float:
    """Seconds for one run on a fresh copy of the tree (the copy is not timed)."""
    tree = scratch / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(template, tree, symlinks=True)
    runs_list = scratch / "list"
    runs_list.write_text("".join(f"{tree / p.relative_to(template)}\n" for p in map(Path, listing.read_text().split())))
    argv = [a.replace("{tree}", str(tree)).replace("{list}", str(runs_list)) for a in command.argv]
    os.sync()
    with open(scratch / "stdout", "wb") as out:
        start = time.perf_counter()
        status = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE).returncode
        elapsed = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{shlex.join(argv)}: exit status {status}")
    return elapsed


def check_relinterp_result(script: Path, template: Path, scratch: Path, files: int) -> str:
    """The summary of a fresh relinterp run, which must have patched every executable."""
    tree = scratch / "check"
    shutil.copytree(template, tree, symlinks=True)
    out = check_output([str(script), "patch", "-r", str(tree), "-j", "2", "--loader-rel", LOADER_REL])
    summary = out.splitlines()[-1]
    if f"{files} patched" not in summary:
        sys.exit(f"relinterp did not patch every executable: {summary}")
    hello = tree / "bin00" / "tool0000"
    if check_output([str(hello)]).strip() != "hello, world":
        sys.exit(f"{hello} does not run after patching")
    return summary


def import_profile() -> tuple[float, bool]:
    """Milliseconds to import what `relinterp patch` imports, and whether LIEF is among it."""
    code = "import relinterp.cli, relinterp.batch, relinterp.render.files, relinterp.report"
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True).stderr
    rows = [line.split("|") for line in err.splitlines() if line.startswith("import time:")]
    rows = [r for r in rows if r[1].strip().isdigit()]  # not the header
    total_us = sum(int(r[1]) for r in rows if not r[2].startswith("  "))  # top-level: cumulative
    return total_us / 1000, any(r[2].strip().startswith("lief") for r in rows)


def render(args, machine, files, extra, times, summary, imports_ms, lief, elapsed) -> str:
    names = list(times)
    relinterp2, patchelf = statistics.median(times[names[0]]), statistics.median(times[names[2]])
    rows = [[f"`{name}`", f"{statistics.median(t):.2f}", f"{min(t):.2f}–{max(t):.2f}",
             f"{statistics.median(t) / files * 1000:.3f}"] for name, t in times.items()]
    met = relinterp2 < patchelf
    machine_rows = [[k, v] for k, v in machine.items()]
    return f"""# relinterp benchmark: patching a tree of {files} executables

Written by `{shlex.join(["python3", *sys.argv])}` in {elapsed:.0f} s.  The machine is shared
and noisy: compare the commands with each other, measured in turns, rather than across runs.

{table(["", ""], machine_rows)}

## The tree

{files} dynamic musl executables, copies of four real programs (`bench/src/hello.c` as PIE
and non-PIE, `bench/src/peak_rss.c`, `tests/programs/probe.c` linked against a shared
library), {DIRS} directories, plus {extra} files that are not to be patched mixed in:
shell scripts, static programs and text files.  The musl loader sits in `lib/`.

## Commands

Each run works on a fresh copy of the tree (`shutil.copytree`, not timed), after `sync`;
the {len(names)} commands take turns, {args.rounds} rounds.  Wall time from spawn to exit.

- `relinterp patch -r TREE -j N --loader-rel {LOADER_REL}`: walks the tree, skips the
  {extra} other files itself, patches the rest in N worker processes.
- `patchelf --set-interpreter {PATCHELF_INTERP} FILE`, one process per file, in turn,
  from a shell loop over the list of the {files} executables (`while read f; do ...; done`).
  The loop is given the list: it does not have to tell executables from scripts, which
  relinterp does.

{table(["Command", "median s", "min–max s", "per file ms (median)"], rows)}

relinterp (`-j 2`) ÷ patchelf loop: {relinterp2 / patchelf:.2f}×.

Check: a fresh `relinterp patch -r -j 2` run said `{summary}`, and a patched program ran.

## Start-up cost

Importing what `relinterp patch` imports (`python -X importtime`, sum of top-level
cumulative times): {imports_ms:.0f} ms; LIEF imported: {"yes" if lief else "no"}.

## Target

| Target | Result |
|---|---|
| `relinterp patch -r -j 2` faster than the patchelf loop | {"met" if met else "MISSED"}: {relinterp2:.2f} s vs {patchelf:.2f} s |

## How to reproduce

`python3 bench/many.py` from the project root (`--files`, `--rounds`).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000, help="dynamic executables in the tree")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per command")
    args = parser.parse_args()
    started = time.monotonic()
    script, machine = start_bench(WORK)
    print(f"building a tree of {args.files} executables", flush=True)
    programs, static = build_programs(WORK)
    template = WORK / "template"
    executables = build_tree(template, args.files, programs, static)
    listing = WORK / "executables"
    listing.write_text("".join(f"{p}\n" for p in executables))
    extra = sum(1 for p in template.rglob("*") if p.is_file()) - args.files - 1  # minus lib/ld-musl.so
    scratch = WORK / "scratch"
    scratch.mkdir()
    times: dict[str, list[float]] = {c.name: [] for c in commands(script)}
    for round_ in range(args.rounds):
        order = commands(script) if round_ % 2 == 0 else commands(script)[::-1]
        for command in order:
            print(f"round {round_ + 1}: {command.name}", flush=True)
            times[command.name].append(timed_run(command, template, listing, scratch))
    summary = check_relinterp_result(script, template, scratch, args.files)
    imports_ms, lief = import_profile()
    RESULTS.write_text(render(args, machine, args.files, extra, times, summary, imports_ms, lief,
                              time.monotonic() - started))
    for name, t in times.items():
        print(f"{name}: median {statistics.median(t):.2f} s, {statistics.median(t) / args.files * 1000:.3f} ms/file")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
