#!/usr/bin/env python3
"""What mirroring an install prefix costs: `relinterp bundle STAGE -o DIR` over a prefix of
1,000 files, against bundling the same programs and libraries named one by one.

Builds, in bench/work/tree/ (wiped first), an install prefix as `make install` leaves it
(no RUNPATH anywhere):
  - 20 shared libraries lib/libbenchN.so;
  - 10 plugins lib/app/plugins/libplugN.so, each needing libbench0.so;
  - 20 programs, bin/progN and libexec/app/progN, each needing 5 of the libraries;
  - data files under share/app/ and symbolic links under lib/ up to 1,000 entries that are
    files or links.
Then, once creating files is fast again (the file system may be discarding deleted files'
blocks), times in fresh
children, interleaved, after one warm-up round, each command writing a new directory:
  - tree mode: `relinterp bundle STAGE -o OUT`;
  - programs: `relinterp bundle PROGRAMS... -o OUT --library-path STAGE/lib --include
    'STAGE/lib/app/plugins/*.so'` (the same ELF files, no data);
  - `cp -a STAGE`: what making 1,000 files costs on this machine, whoever makes them;
and reports the ratio of the medians of wall time and of CPU time (target: tree mode ≤ 2×
programs), for musl and for glibc programs (the machine's gcc, with glibc's by-name
loads).  Writes bench/RESULTS-tree.md.

    python3 bench/tree.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import BENCH, Spread, describe_machine, relinterp_script, settle, table  # noqa: E402

WORK = BENCH / "work" / "tree"
RESULTS = BENCH / "RESULTS-tree.md"
COMPILERS = {"musl": "musl-gcc", "glibc": "gcc"}
LIBRARIES, PLUGINS, PROGRAMS, FILES = 20, 10, 20, 1000
TARGET = 2.0


def compile_c(cc: str, out: Path, source: str, *args) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    c_file = out.with_name(out.name + ".c")
    c_file.write_text(source)
    subprocess.run([cc, "-O2", "-o", str(out), str(c_file), *map(str, args)], check=True)
    c_file.unlink()


def build_stage(stage: Path, cc: str) -> list[Path]:
    """The prefix; returns its programs."""
    lib = stage / "lib"
    for n in range(LIBRARIES):
        compile_c(cc, lib / f"libbench{n}.so", f"int bench{n}(void) {{ return {n}; }}\n", "-shared", "-fPIC")
    for n in range(PLUGINS):
        compile_c(cc, lib / "app/plugins" / f"libplug{n}.so", f"int bench0(void);\nint plug{n}(void) "
                  f"{{ return bench0() + {n}; }}\n", "-shared", "-fPIC", f"-L{lib}", "-lbench0")
    programs = []
    for n in range(PROGRAMS):
        used = [(n + k) % LIBRARIES for k in range(5)]
        source = "#include <stdio.h>\n" + "".join(f"int bench{u}(void);\n" for u in used) + \
            f"int main(void) {{ printf(\"%d\\n\", {' + '.join(f'bench{u}()' for u in used)}); return 0; }}\n"
        where = stage / ("bin" if n % 2 else "libexec/app") / f"prog{n}"
        compile_c(cc, where, source, f"-L{lib}", *(f"-lbench{u}" for u in used))
        programs.append(where)
    for n in range(LIBRARIES):
        (lib / f"libbench{n}.so.1").symlink_to(f"libbench{n}.so")
    data = stage / "share/app/data"
    data.mkdir(parents=True)
    for n in range(FILES - LIBRARIES * 2 - PLUGINS - PROGRAMS):
        (data / f"file{n:04d}.txt").write_text(f"data file {n}\n" * 20)
    count = sum(1 for p in stage.rglob("*") if p.is_file() or p.is_symlink())
    assert count == FILES, count
    return programs


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall time, and CPU time (user + system, the command and every process it waited
    for): on a machine others share, the second depends less on their load."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(libc: str, runs: int) -> dict[str, dict[str, list[float]]]:
    work = WORK / libc
    stage = work / "stage"
    programs = build_stage(stage, COMPILERS[libc])
    script = str(relinterp_script())
    variants = {  # each round writes a new directory: nothing is deleted while the commands are timed
        "tree mode (bundle STAGE)": lambda out: [script, "bundle", str(stage), "-o", str(out)],
        "programs named one by one": lambda out: [script, "bundle", *map(str, programs), "-o", str(out),
                                                  "--library-path", str(stage / "lib"),
                                                  "--include", str(stage / "lib/app/plugins/*.so")],
        "cp -a STAGE (the floor for 1,000 files)": lambda out: ["cp", "-a", str(stage), str(out)],
    }
    samples: dict[str, dict[str, list[float]]] = {"wall": {n: [] for n in variants}, "cpu": {n: [] for n in variants}}
    settle(work)
    for round_ in range(runs + 1):  # round 0 warms the page cache and is not kept
        for index, (name, command) in enumerate(variants.items()):
            wall, cpu = timed(command(work / "out" / f"{round_}-{index}"))
            if round_:
                samples["wall"][name].append(wall)
                samples["cpu"][name].append(cpu)
    check(work, programs, stage)
    return samples


def check(work: Path, programs: list[Path], stage: Path) -> None:
    """Both trees of the last round run every program."""
    last = max(int(p.name.split("-")[0]) for p in (work / "out").iterdir())
    for program in programs:
        rel = program.relative_to(stage)
        for tree, path in ((work / "out" / f"{last}-0", rel), (work / "out" / f"{last}-1", Path("bin") / program.name)):
            result = subprocess.run([str(tree / path)], capture_output=True, text=True)
            if result.returncode != 0:
                sys.exit(f"{tree / path}: exit status {result.returncode}: {result.stderr}")


def render(command: str, results: dict[str, dict[str, dict[str, list[float]]]], runs: int) -> str:
    verdicts, tables = [], []
    for clock, title in (("wall", "Wall time"), ("cpu", "CPU time (user + system)")):
        rows = []
        for libc, by_clock in results.items():
            samples = by_clock[clock]
            tree, programs, _ = (Spread.of(s) for s in samples.values())
            ratio = tree.median / programs.median
            verdicts.append([f"{libc}, {clock}: tree mode ≤ {TARGET:g}× programs", f"{ratio:.2f}×",
                             f"{tree.p10 / programs.p10:.2f}×", "met" if ratio <= TARGET else "**missed**"])
            rows += [[libc, name, f"{Spread.of(s).median * 1000:.0f}", f"{Spread.of(s).p10 * 1000:.0f}",
                      f"{Spread.of(s).p90 * 1000:.0f}"] for name, s in samples.items()]
        tables.append(f"## {title} (ms)\n\n" + table(["libc", "", "median", "p10", "p90"], rows))
    pressure = _cpu_pressure()
    return "\n\n".join([
        "# relinterp bundle STAGE: a 1,000-file install prefix",
        f"Produced by `{command}`.  Each figure: {runs} runs after one warm-up, the three commands interleaved.",
        "## Machine\n\n" + table(["", ""], [[k, v] for k, v in describe_machine().items()] +
                                   [["CPU pressure after the run", pressure]]),
        "## Target\n\n" + table(["Target", "Ratio of the medians", "Ratio of the p10s", ""], verdicts),
        *tables,
        f"The prefix: {LIBRARIES} libraries in lib/ (each with a `.so.1` link), {PLUGINS} plugins in "
        f"lib/app/plugins/ needing one of them, {PROGRAMS} programs in bin/ and libexec/app/ needing 5 each, "
        f"and data files in share/app/data/: {FILES} files and links.  Tree mode mirrors all of it, patches "
        "every program where it is and gives each program and library the search path its needs land in. "
        "`programs named one by one` bundles the same programs and plugins (`--include`) into bin/ and lib/, "
        "without the data.  `cp -a` copies the prefix as it is: what creating its files costs here, the part "
        "of tree mode no planning removes.  CPU time is that of the command and every process it waited for "
        "(patchelf), from `getrusage(RUSAGE_CHILDREN)`.  Each round writes new directories and nothing is "
        "deleted while commands are timed: this file system is mounted with `discard`, and file creation waits "
        "for the discards of earlier deletions (each half starts once creating 300 files takes under 40 ms "
        "twice in a row, or after 90 s).  The target is judged on "
        "the medians; the p10s show the quietest rounds: on a machine others share (their deletions too), the "
        "kernel's cost of creating a file varies by up to ten times from one second to the next (compare "
        "`cp -a`'s p10 and p90), and tree mode creates 1,000 files where bundling the programs creates about "
        "55.  Every bundled program of both trees ran and exited 0.",
    ]) + "\n"


def _cpu_pressure() -> str:
    """/proc/pressure/cpu's 5-minute average: how much others were competing for the CPUs."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "unknown"
    return line.replace("some ", "some tasks waiting: ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    results = {libc: measure(libc, args.runs) for libc in COMPILERS}  # what they wrote stays until the next run
    RESULTS.write_text(render(shlex.join(["python3", *sys.argv]), results, args.runs))
    for libc, by_clock in results.items():
        for name in by_clock["wall"]:
            wall, cpu = (Spread.of(by_clock[c][name]).median * 1000 for c in ("wall", "cpu"))
            print(f"{libc}: {name}: median {wall:.0f} ms wall, {cpu:.0f} ms CPU")


if __name__ == "__main__":
    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
    main()
