#!/usr/bin/env python3
"""How patching grows: with the size of the file (1 MiB to 1 GiB) and with the number of
files (10 to 10,000, patched with -j), each against the alternatives measured in the
same run.  Writes bench/RESULTS-scale.md.

    python3 bench/scale.py [--sizes 1,10,100,1000] [--counts 10,100,1000,10000]
                           [--repeats N] [--rounds N]

File size: a dynamic musl hello followed by real (random) bytes up to the size, as a
self-extracting archive carries its payload.  Per size, each tool in a fresh child, warmed
once, then `--repeats` rounds in a shuffled order, output deleted and `sync` before each:
relinterp patch -o (which records a digest of the original), cp, and
patchelf --set-interpreter --output.
File count: bench/many.py's tree of N executables, relinterp patch -r -j 2 / -j 1 against
a patchelf loop, on fresh copies, `--rounds` turns.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from many import build_programs, build_tree, commands, timed_run  # noqa: E402
from run import (BENCH, MIB, SHUFFLE_SEED, SRC, build_probe, make_dist, measure_usage, musl_gcc,  # noqa: E402
                 start_bench, table)

WORK = BENCH / "work" / "scale"
RESULTS = BENCH / "RESULTS-scale.md"
def build_sized(root: Path, hello: Path, mib: int) -> Path:
    """`hello` with random bytes after it, `mib` MiB in all."""
    path = root / f"app-{mib}m"
    block = os.urandom(MIB)
    with open(path, "wb") as out:
        out.write(hello.read_bytes())
        while out.tell() < mib * MIB:
            out.write(block[: mib * MIB - out.tell()])
    path.chmod(0o755)
    return path


def size_tools(script: Path, app: Path, dist: Path) -> dict[str, tuple[list[str], Path]]:
    out = {name: app.with_name(f"{app.name}.{name}") for name in ("relinterp", "cp", "patchelf")}
    loader = dist / "lib" / "ld-musl.so"
    return {
        "relinterp patch": ([str(script), "patch", str(app), "--loader-rel", "../lib/ld-musl.so", "-o",
                             str(out["relinterp"])], out["relinterp"]),
        "cp": (["cp", str(app), str(out["cp"])], out["cp"]),
        "patchelf --set-interpreter": (["patchelf", "--set-interpreter", str(loader), "--output",
                                        str(out["patchelf"]), str(app)], out["patchelf"]),
    }


def measure_size(probe: Path, tools: dict, repeats: int) -> dict[str, list[tuple[int, int]]]:
    """(wall ns, peak RSS KiB) per run of each tool, interleaved."""
    def once(name: str) -> tuple[int, int]:
        argv, output = tools[name]
        output.unlink(missing_ok=True)
        os.sync()
        usage = measure_usage(probe, argv)
        output.unlink()
        return usage.wall_ns, usage.peak_rss_kib

    rng = random.Random(SHUFFLE_SEED)
    for name in tools:
        once(name)
    samples: dict[str, list[tuple[int, int]]] = {name: [] for name in tools}
    order = list(tools)
    for _ in range(repeats):
        rng.shuffle(order)
        for name in order:
            samples[name].append(once(name))
    return samples


def size_rows(sizes: dict[int, dict]) -> list[list[str]]:
    rows = []
    for mib, samples in sizes.items():
        ms = {name: statistics.median(s[0] for s in runs) / 1e6 for name, runs in samples.items()}
        peak = {name: max(s[1] for s in runs) / 1024 for name, runs in samples.items()}
        ours, patchelf, cp = ms["relinterp patch"], ms["patchelf --set-interpreter"], ms["cp"]
        rows.append([f"{mib}", f"{ours:.0f}", f"{cp:.0f}", f"{patchelf:.0f}",
                     f"{ours / patchelf:.2f}", f"{ours / cp:.2f}",
                     f"{peak['relinterp patch']:.1f}", f"{peak['patchelf --set-interpreter']:.1f}"])
    return rows


def measure_counts(script: Path, counts: list[int], rounds: int) -> dict[int, dict[str, list[float]]]:
    programs, static = build_programs(WORK / "count")
    found: dict[int, dict[str, list[float]]] = {}
    for files in counts:
        print(f"tree of {files} executables", flush=True)
        base = WORK / "count" / f"n{files}"
        executables = build_tree(base / "template", files, programs, static)
        listing = base / "executables"
        listing.write_text("".join(f"{p}\n" for p in executables))
        (base / "scratch").mkdir()
        times: dict[str, list[float]] = {c.name: [] for c in commands(script)}
        for round_ in range(rounds):
            for command in commands(script) if round_ % 2 == 0 else commands(script)[::-1]:
                times[command.name].append(timed_run(command, base / "template", listing, base / "scratch"))
        found[files] = times
        shutil.rmtree(base)
    return found


def count_rows(counts: dict[int, dict[str, list[float]]]) -> list[list[str]]:
    rows = []
    for files, times in counts.items():
        med = {name: statistics.median(t) for name, t in times.items()}
        j2, j1, loop = (med[c] for c in ("relinterp patch -r -j 2", "relinterp patch -r -j 1",
                                         "patchelf loop (1 process per file)"))
        rows.append([f"{files}", f"{j2:.2f}", f"{j1:.2f}", f"{loop:.2f}", f"{j2 / files * 1000:.3f}",
                     f"{loop / files * 1000:.3f}", f"{j2 / loop:.2f}"])
    return rows


def render(args, machine: dict, sizes: dict, counts: dict, elapsed: float) -> str:
    return f"""# relinterp benchmark: patch time against file size and file count

Written by `{shlex.join(["python3", *sys.argv])}` in {elapsed:.0f} s.  The machine is shared
and noisy: compare the tools with each other, measured in turns, rather than across runs.

{table(["", ""], [[k, v] for k, v in machine.items()])}

## File size

A dynamic musl hello followed by random bytes up to the size.  Median wall time of
{args.repeats} interleaved runs (after one warm-up), output deleted and `sync` before each;
peak RSS is the maximum.  relinterp's figures include the digest of the original it
records for `restore` (hashed while the kernel copies; its cost alone: bench/digest.py).

{table(["MiB", "relinterp ms", "cp ms", "patchelf ms", "relinterp ÷ patchelf",
        "relinterp ÷ cp", "relinterp peak MiB", "patchelf peak MiB"],
       size_rows(sizes))}

## File count

bench/many.py's tree (copies of four real musl programs, 20% other files mixed in), on a
fresh copy per run, {args.rounds} round(s) in turns.

{table(["files", "relinterp -j 2 s", "relinterp -j 1 s", "patchelf loop s", "relinterp -j 2 ms/file",
        "patchelf ms/file", "relinterp -j 2 ÷ patchelf loop"], count_rows(counts))}

## How to reproduce

`python3 bench/scale.py` from the project root (`--sizes`, `--counts`, `--repeats`, `--rounds`).
"""


def int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int_list, default=[1, 10, 100, 1000], help="file sizes, MiB")
    parser.add_argument("--counts", type=int_list, default=[10, 100, 1000, 10000], help="files per tree")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per tool and size")
    parser.add_argument("--rounds", type=int, default=1, help="timed runs per command and count")
    args = parser.parse_args()
    started = time.monotonic()
    script, machine = start_bench(WORK)
    probe = build_probe(WORK)
    hello = musl_gcc(WORK / "hello", SRC / "hello.c")
    dist = make_dist(WORK)
    sizes = {}
    for mib in args.sizes:
        print(f"{mib} MiB", flush=True)
        app = build_sized(WORK, hello, mib)
        sizes[mib] = measure_size(probe, size_tools(script, app, dist), args.repeats)
        app.unlink()
    counts = measure_counts(script, args.counts, args.rounds)
    RESULTS.write_text(render(args, machine, sizes, counts, time.monotonic() - started))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
