#!/usr/bin/env python3
"""How long `relinterp bundle` takes for a program with 10 shared libraries.

Builds, in bench/work/bundle/ (wiped first), ten small shared libraries and a program
that needs all of them (no RUNPATH: they are found through --library-path, so the program
gets one), then times the console script in fresh children:
  - `relinterp bundle APP -o OUT --library-path LIBS` into a new directory;
  - the same over the tree the previous run left (replaced in one step);
  - the same with `--tar OUT.tar.gz`;
and, in this process, plan_bundle + build_bundle alone (no interpreter start-up).
Writes bench/RESULTS-bundle.md.  Target: ≤ 1 s wall for the command.  With `--libc glibc`
the same project is built with gcc and bundled with the machine's glibc (libc.so.6 is then
an eleventh library, and the program gets a DT_RPATH); that report is
bench/RESULTS-bundle-glibc.md.

    python3 bench/bundle.py [--runs N] [--libc musl|glibc]
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import BENCH, Spread, describe_machine, relinterp_script, table  # noqa: E402

WORK = BENCH / "work" / "bundle"
RESULTS = {"musl": BENCH / "RESULTS-bundle.md", "glibc": BENCH / "RESULTS-bundle-glibc.md"}
COMPILER = {"musl": "musl-gcc", "glibc": "gcc"}
LIBRARIES = 10
TARGET_S = 1.0
PROGRAM = """#include <stdio.h>
{declarations}
int main(void) {{ printf("sum %d\\n", {calls}); return 0; }}
"""


def build(work: Path, cc: str) -> Path:
    """Ten libraries lib/libbenchN.so (each returning N) and bin/app needing all."""
    lib = work / "build"
    lib.mkdir(parents=True)
    for n in range(LIBRARIES):
        (lib / f"bench{n}.c").write_text(f"int bench{n}(void) {{ return {n}; }}\n")
        compile_c(cc, lib / f"libbench{n}.so", "-shared", "-fPIC", lib / f"bench{n}.c")
    source = work / "app.c"
    source.write_text(PROGRAM.format(declarations="\n".join(f"int bench{n}(void);" for n in range(LIBRARIES)),
                                     calls=" + ".join(f"bench{n}()" for n in range(LIBRARIES))))
    app = compile_c(cc, work / "app", source, f"-L{lib}", *(f"-lbench{n}" for n in range(LIBRARIES)))
    return app


def compile_c(cc: str, out: Path, *args) -> Path:
    subprocess.run([cc, "-O2", "-o", str(out), *map(str, args)], check=True)
    return out


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(work: Path, app: Path, runs: int) -> dict[str, list[float]]:
    script = str(relinterp_script())
    base = [script, "bundle", str(app), "--library-path", str(work / "build")]
    fresh, tar = work / "fresh", work / "tar"
    variants = {
        "new directory": (lambda: shutil.rmtree(fresh, ignore_errors=True), [*base, "-o", str(fresh)]),
        "replacing the previous tree": (lambda: None, [*base, "-o", str(work / "again")]),
        "new directory, with --tar": (lambda: shutil.rmtree(tar, ignore_errors=True),
                                      [*base, "-o", str(tar), "--tar", str(work / "tar.tar.gz")]),
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(runs + 1):  # round 0 warms the page cache and is not kept
        for name, (prepare, argv) in variants.items():
            prepare()
            elapsed = timed(argv)
            if round_:
                samples[name].append(elapsed)
    samples["in-process: plan + build (no start-up)"] = in_process(work, app, runs)
    return samples


def in_process(work: Path, app: Path, runs: int) -> list[float]:
    from relinterp.bundle.assemble import build_bundle
    from relinterp.bundle.plan import BundleOptions, plan_bundle

    options = BundleOptions(library_path=(str(work / "build"),))
    times = []
    for _ in range(runs):
        out = work / "in-process"
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        build_bundle(plan_bundle([str(app)], str(out), options))
        times.append(time.perf_counter() - start)
    return times


def check(work: Path) -> str:
    output = subprocess.run([str(work / "fresh/bin/app")], check=True, capture_output=True, text=True).stdout
    expected = f"sum {sum(range(LIBRARIES))}\n"
    if output != expected:
        sys.exit(f"the bundled program printed {output!r}, not {expected!r}")
    return output.strip()


def machine_table(libc: str) -> dict[str, str]:
    """bench/run.py's description, with the C library and patchelf `bundle` actually uses."""
    import os

    from relinterp.rewrite.write import find_patchelf
    from relinterp.loaders.glibc import glibc_build
    from relinterp.loaders.musl import musl_version

    machine = describe_machine()
    if libc == "musl":
        machine["musl"] = ".".join(map(str, musl_version("/lib/ld-musl-x86_64.so.1") or ("unknown",)))
    else:
        machine["glibc"] = glibc_build(os.path.realpath("/lib64/ld-linux-x86-64.so.2")) or "unknown"
    patchelf = find_patchelf()
    version = subprocess.run([patchelf, "--version"], capture_output=True, text=True).stdout.strip()
    machine["patchelf"] = f"{version} ({patchelf})"
    return machine


def render(command: str, samples: dict[str, list[float]], output: str, runs: int, libc: str) -> str:
    machine = machine_table(libc)
    headline = Spread.of(samples["new directory"]).median
    rows = [[name, f"{Spread.of(s).median * 1000:.0f}", f"{Spread.of(s).p10 * 1000:.0f}",
             f"{Spread.of(s).p90 * 1000:.0f}"] for name, s in samples.items()]
    verdict = "met" if headline <= TARGET_S else "**missed**"
    what = ("it reads 12 ELF files, copies them and the loader, sets the program's RUNPATH with patchelf (the "
            "libraries are left as they are) and patches the program." if libc == "musl" else
            "it asks the loader for its search directories (`ld.so --list-diagnostics`) and ldconfig for "
            "ld.so.cache, reads 13 ELF files (libc.so.6 among them, with their symbol versions) and what glibc "
            "loads by name (libgcc_s.so.1, the NSS modules beside libc.so.6 and what they need), checks that "
            "libc.so.6 is the loader's build, copies them and the loader, sets the program's DT_RPATH with "
            "patchelf and patches the program.")
    return "\n\n".join([
        f"# relinterp bundle: a {libc} program with 10 libraries",
        f"Produced by `{command}`.  Each figure: {runs} runs after one warm-up, wall time.",
        "## Machine\n\n" + table(["", ""], [[k, v] for k, v in machine.items()]),
        "## Target\n\n" + table(["Target", "Figure", ""],
                                [[f"`relinterp bundle` ≤ {TARGET_S:g} s", f"{headline * 1000:.0f} ms", verdict]]),
        "## Wall time (ms)\n\n" + table(["", "median", "p10", "p90"], rows),
        f"The bundled program ran and printed `{output}`.  What is timed: the console script "
        f"`relinterp bundle APP -o OUT --library-path LIBS` in a fresh child, from spawn to exit; {what}",
    ]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--libc", choices=sorted(COMPILER), default="musl")
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    app = build(WORK, COMPILER[args.libc])
    samples = measure(WORK, app, args.runs)
    output = check(WORK)
    RESULTS[args.libc].write_text(render(shlex.join(["python3", *sys.argv]), samples, output, args.runs, args.libc))
    for name, s in samples.items():
        print(f"{name}: median {Spread.of(s).median * 1000:.0f} ms")


if __name__ == "__main__":
    main()
