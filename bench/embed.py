#!/usr/bin/env python3
"""What embedding the loader in the program changes (`relinterp patch --embed-loader`):
for a musl and a glibc hello world, unpatched vs. patched (loader file beside it) vs.
embedded -- start-up time (median of interleaved runs), system calls, minor page faults
and mappings at main -- and how much the file grows.

Builds in bench/work/embed/ (wiped first), patches with this checkout's relinterp,
writes bench/RESULTS-embed.md and prints a summary.  See bench/README.md.

    python3 bench/embed.py [--spawns N] [--faults N]
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from run import (BENCH, ROOT, SRC, STARTUP_PASSES, WARMUP_ROUNDS, WORK, Variant, check_output, measure_startup,
                 ratio, startup_table, stub_size, table)
from startup import LIBCS, Libc, count, counts_table, met, parse_args, prepare

EMBED_WORK = WORK / "embed"
RESULTS = BENCH / "RESULTS-embed.md"
UNPATCHED, PATCHED, EMBEDDED = "unpatched", "patched (loader file)", "embedded"
TARGET_RATIO = 1.00


def relinterp(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "relinterp", *args], check=True, capture_output=True, cwd=ROOT)


@dataclass(frozen=True)
class Built:
    libc: Libc
    variants: list[Variant]  # the hello world, three ways
    maps: list[Variant]  # the mappings probe, the same three ways
    files: dict[str, Path]  # the hello world's file, each way


def build(libc: Libc, root: Path) -> Built:
    """dist/bin holds the program three ways, dist/lib the loader and (glibc) libc.so.6:
    all three find the same libc the same way, only the loader differs."""
    bin_dir, lib = root / "dist" / "bin", root / "dist" / "lib"
    bin_dir.mkdir(parents=True)
    lib.mkdir()
    for path in (libc.loader, *libc.libs):
        shutil.copy2(path, lib / path.name)
    ways, files = {}, {}
    for program in ("hello", "maps"):
        plain = bin_dir / f"{program}-unpatched"
        check_output([*libc.cc, "-o", str(plain), str(SRC / f"{program}.c")])
        patched, embedded = bin_dir / f"{program}-patched", bin_dir / f"{program}-embedded"
        relinterp("patch", str(plain), "--loader-rel", libc.loader_rel, "-o", str(patched))
        relinterp("patch", str(plain), "--embed-loader", str(libc.loader), "-o", str(embedded))
        ways[program] = [Variant(UNPATCHED, [str(plain)]), Variant(PATCHED, [str(patched)]),
                         Variant(EMBEDDED, [str(embedded)])]
        files[program] = {UNPATCHED: plain, PATCHED: patched, EMBEDDED: embedded}
    return Built(libc, ways["hello"], ways["maps"], files["hello"])


def sizes_table(built: Built) -> str:
    """The file each way, and what an embedded loader adds: the loader's file, the stub's
    segment and tables, the symbols and sections, and the hole (no disk blocks)."""
    rows = []
    loader = built.libc.loader.stat().st_size
    for name, path in built.files.items():
        info = path.stat()
        extra = f"+ {loader:,} (the loader's file)" if name == PATCHED else ""
        rows.append([name, f"{info.st_size:,}", f"{info.st_blocks * 512:,}", extra])
    return table(["File", "bytes", "on disk (allocated)", "besides it"], rows)


def growth(built: Built) -> tuple[int, int]:
    """(bytes, bytes on disk) the embedded file has more than the unpatched one."""
    a, b = built.files[UNPATCHED].stat(), built.files[EMBEDDED].stat()
    return b.st_size - a.st_size, (b.st_blocks - a.st_blocks) * 512


def render(command: str, machine: dict[str, str], args: argparse.Namespace, results: dict, elapsed_s: float) -> str:
    targets, sections = [], []
    for name, (built, startup, counts) in results.items():
        ratios = [ratio(run, EMBEDDED) for run in startup]
        targets.append([f"{name}: embedded / unpatched start-up ≤ {TARGET_RATIO:.2f}",
                        " and ".join(f"{r:.3f}" for r in ratios), met(all(r <= TARGET_RATIO for r in ratios))])
        calls = (counts[EMBEDDED].syscalls, counts[UNPATCHED].syscalls)
        targets.append([f"{name}: system calls, embedded ≤ unpatched", f"{calls[0]} and {calls[1]}",
                        met(calls[0] <= calls[1])])
        size, disk = growth(built)
        sections.append(f"""### {name}

{startup_table(startup)}

{counts_table(startup, counts)}

{sizes_table(built)}

The embedded file is {size:,} bytes larger than the unpatched one ({disk:,} bytes more on disk).
""")
    stub = stub_size()
    return f"""# relinterp benchmarks: the loader embedded in the program

Produced by `{command}` in {elapsed_s:.0f} s on {machine["Date"]}.
What is measured and how: [README.md](README.md), and below.

## Machine

{table(["", ""], [[k, v] for k, v in machine.items()])}

## Targets

{table(["Target", "Figure", ""], targets)}

## Start-up, system calls, page faults, mappings, size

A hello world (PIE) printing one line to /dev/null, three ways, all in `dist/bin` beside
`dist/lib`, which holds a copy of this machine's loader (and, for glibc, libc.so.6, which
all three find through `RUNPATH $ORIGIN/../lib`: only the loader differs):

- `{UNPATCHED}`: as linked; the kernel opens and maps the machine's loader from PT_INTERP;
- `{PATCHED}`: `relinterp patch --loader-rel ../lib/LOADER`: the stub finds and maps it;
- `{EMBEDDED}`: `relinterp patch --embed-loader LOADER`: the kernel maps it with the
  program, from the program's file.

Each is started {args.spawns} times per pass after {WARMUP_ROUNDS} warm-up rounds, the
variants interleaved in a shuffled order each round; time from `posix_spawn` to
`waitpid`; {STARTUP_PASSES} passes.  Then, per variant: the system calls of one start
(`strace -f`, `execve` included), the mean minor page faults of {args.faults} starts
(`ru_minflt` from `wait4`), and the mappings when `main` runs (`src/maps.c`, built and
patched the same three ways).  Stub blob: {stub} bytes.

{chr(10).join(sections)}
## How to reproduce

`python3 bench/embed.py` from the project root (`--spawns`, `--faults` for a shorter run);
needs musl-tools, gcc, libc6-dev and strace.
"""


def main() -> None:
    args = parse_args(__doc__)
    started = time.monotonic()
    machine = prepare(EMBED_WORK)
    results = {}
    for libc in LIBCS:
        print(f"{libc.name}: building, then {STARTUP_PASSES} passes of {args.spawns} spawns per variant", flush=True)
        work = EMBED_WORK / libc.name
        built = build(libc, work)
        results[libc.name] = (built, measure_startup(built.variants, args.spawns), count(built.variants, built.maps, args.faults, work))
    command = shlex.join(["python3", *sys.argv])
    RESULTS.write_text(render(command, machine, args, results, time.monotonic() - started))
    for name, (built, startup, counts) in results.items():
        ratios = " and ".join(f"{ratio(run, EMBEDDED):.3f}" for run in startup)
        print(f"{name}: embedded / unpatched {ratios}; system calls {counts[EMBEDDED].syscalls} "
              f"(unpatched {counts[UNPATCHED].syscalls}); grows by {growth(built)[0]:,} bytes")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
