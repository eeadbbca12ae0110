#!/usr/bin/env python3
"""What the stub costs a start, and where it goes: per start, patched vs. unpatched vs.
`ld.so app`, for a musl and a glibc hello world — time ratio, system calls, minor page
faults, mappings at main — and start-up against the number of candidates that miss.

Builds in bench/work/startup/ (wiped first), patches with this checkout's relinterp,
writes bench/RESULTS-startup.md and prints a summary.  See bench/README.md.

    python3 bench/startup.py [--spawns N] [--faults N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from glibc import minor_faults, strace_lines
from run import (BENCH, MANIFEST, ROOT, SRC, STARTUP_PASSES, WARMUP_ROUNDS, WORK, Spread, Variant, at_least,
                 check_output, describe_machine, measure_startup, ratio, spawns_parser, startup_table, table)

STARTUP_WORK = WORK / "startup"
RESULTS = BENCH / "RESULTS-startup.md"
TARGET_RATIO = 1.02
TARGET_STUB_CALLS = 9
MISSES = (0, 1, 4, 15)
# What the stub calls before the loader runs; the loader's own first call is none of these.
STUB_CALLS = {"readlinkat", "openat", "statx", "lseek", "getgroups", "pread64", "read", "mmap", "munmap", "mprotect", "close",
              "getcwd", "writev"}

UNPATCHED, PATCHED, DIRECT = "unpatched", "patched", "ld.so app"


@dataclass(frozen=True)
class Libc:
    name: str
    cc: tuple[str, ...]
    loader: Path  # the machine's, which the unpatched program names in PT_INTERP
    libs: tuple[Path, ...]  # shipped beside the loader

    @property
    def loader_rel(self) -> str:
        return f"../lib/{self.loader.name}"


def machine_file(name: str) -> Path:
    return Path(os.path.realpath(check_output(["gcc", f"-print-file-name={name}"]).strip()))


LIBCS = (
    Libc("musl", ("musl-gcc", "-O2", "-fPIE", "-pie"), Path(os.path.realpath("/lib/ld-musl-x86_64.so.1")), ()),
    Libc("glibc", ("gcc", "-O2", "-fPIE", "-pie", "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib"),
         Path("/lib64/ld-linux-x86-64.so.2"), (machine_file("libc.so.6"),)),
)


def patch(program: Path, output: Path, *rels: str) -> Path:
    options = [a for rel in rels for a in ("--loader-rel", rel)]
    subprocess.run([sys.executable, "-m", "relinterp", "patch", str(program), *options, "-o", str(output)],
                   check=True, capture_output=True, cwd=ROOT)
    return output


@dataclass(frozen=True)
class Built:
    libc: Libc
    variants: list[Variant]  # the hello world, three ways
    maps: list[Variant]  # the mappings probe, the same three ways


def build(libc: Libc, root: Path) -> Built:
    bin_dir, lib = root / "dist" / "bin", root / "dist" / "lib"
    bin_dir.mkdir(parents=True)
    lib.mkdir()
    for path in (libc.loader, *libc.libs):
        shutil.copy2(path, lib / path.name)
    loader = lib / libc.loader.name
    ways = {}
    for program in ("hello", "maps"):
        plain = root / program
        check_output([*libc.cc, "-o", str(plain), str(SRC / f"{program}.c")])
        shutil.copy2(plain, bin_dir / f"{program}.real")
        patched = patch(plain, bin_dir / program, libc.loader_rel)
        ways[program] = [Variant(UNPATCHED, [str(plain)]), Variant(PATCHED, [str(patched)]),
                         Variant(DIRECT, [str(loader), str(bin_dir / f"{program}.real")])]
    return Built(libc, ways["hello"], ways["maps"])


def build_misses(musl: Built, root: Path) -> list[Variant]:
    """The musl hello patched with k candidates that do not exist before the real one."""
    hello = Path(musl.variants[0].argv[0])
    bin_dir = Path(musl.variants[1].argv[0]).parent
    variants = [musl.variants[0]]
    for k in MISSES:
        misses = [f"../missing-{i}/{musl.libc.loader.name}" for i in range(k)]
        patched = patch(hello, bin_dir / f"hello-{k}-misses", *misses, musl.libc.loader_rel)
        variants.append(Variant(f"{k} missing", [str(patched)]))
    return variants


# ---------------------------------------------------------------- counting


@dataclass(frozen=True)
class Counts:
    syscalls: int
    minor_faults: float
    mappings: tuple[int, int] | None  # at main: how many, and the KiB of anonymous ones


def mappings(argv: list[str]) -> tuple[int, int]:
    count, anonymous = map(int, check_output(argv).split())
    return count, anonymous // 1024


def stub_calls(calls: list[str]) -> list[str]:
    """The system calls between execve and the loader's first."""
    made = []
    for line in calls[1:]:
        call = line.split(" ", 1)[-1].strip()
        if call.split("(", 1)[0] not in STUB_CALLS:
            break
        made.append(re.sub(r"0x[0-9a-f]{8,}", "0x…", call))
    return made


def syscall_costs(work: Path, loader: Path) -> dict[str, float]:
    """Microseconds per call group, from src/syscost.c run on this machine."""
    probe = work / "syscost"
    check_output(["gcc", "-O2", "-o", str(probe), str(SRC / "syscost.c")])
    return {name: float(us) for name, us in (line.split() for line in check_output([str(probe), str(loader)]).splitlines())}


def count(variants: list[Variant], maps: list[Variant] | None, runs: int, work: Path) -> dict[str, Counts]:
    probes = {v.name: v.argv for v in maps or []}
    return {v.name: Counts(len(strace_lines(v.argv, work)), minor_faults(v.argv, runs),
                           mappings(probes[v.name]) if v.name in probes else None) for v in variants}


# ---------------------------------------------------------------- report


def met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def counts_table(startup: list[dict[str, Spread]], counts: dict[str, Counts], base: str = UNPATCHED) -> str:
    rows = []
    for name, c in counts.items():
        ratios = " / ".join(f"{ratio(run, name, base):.3f}" for run in startup)
        row = [name, ratios, str(c.syscalls), f"{c.minor_faults:.1f}"]
        if c.mappings is not None:
            row += [str(c.mappings[0]), str(c.mappings[1])]
        rows.append(row)
    headers = ["Variant", f"× {base} (pass 1 / pass 2)", "system calls", "minor faults (mean)"]
    extra = ["mappings at main", "anonymous KiB at main"]
    return table(headers + (extra if rows and len(rows[0]) > len(headers) else []), rows)


def render(command: str, machine: dict[str, str], args: argparse.Namespace, results: dict, elapsed_s: float) -> str:
    targets, sections = [], []
    for name, (built, startup, counts, calls) in results["libcs"].items():
        ratios = [ratio(run, PATCHED) for run in startup]
        targets.append([f"{name}: patched / unpatched ≤ {TARGET_RATIO}", " and ".join(f"{r:.3f}" for r in ratios),
                        met(all(r <= TARGET_RATIO for r in ratios))])
        targets.append([f"{name}: system calls the stub adds ≤ {TARGET_STUB_CALLS}", str(len(calls)),
                        met(len(calls) <= TARGET_STUB_CALLS)])
        extra = counts[PATCHED].mappings[0] - counts[UNPATCHED].mappings[0]
        targets.append([f"{name}: mappings at main, patched − unpatched ≤ 1 (the stub's own segment)",
                        f"{extra:+d}", met(extra <= 1)])
        anonymous = counts[PATCHED].mappings[1] - counts[UNPATCHED].mappings[1]
        targets.append([f"{name}: anonymous memory at main, patched − unpatched ≤ 1 page (the table's)",
                        f"{anonymous:+d} KiB", met(anonymous * 1024 <= os.sysconf("SC_PAGE_SIZE"))])
        listing = "\n".join(calls)
        sections.append(f"""### {name}

{startup_table(startup)}

{counts_table(startup, counts)}

The stub's system calls (patched, from `execve` to the loader's first call):

```
{listing}
```
""")
    startup, counts = results["misses"]
    stub = json.loads(MANIFEST.read_text())["stubs"]["x86_64"]["size"]
    costs = results["costs"]
    musl_startup = results["libcs"]["musl"][1][0]
    gap = musl_startup[PATCHED].median - musl_startup[UNPATCHED].median
    return f"""# relinterp benchmarks: what the stub costs a start

Produced by `{command}` in {elapsed_s:.0f} s on {machine["Date"]}.
What is measured and how: [README.md](README.md).

## Machine

{table(["", ""], [[k, v] for k, v in machine.items()])}

## Targets

{table(["Target", "Figure", ""], targets)}

## Start-up, musl and glibc

A hello world (PIE) printing one line to /dev/null, from a tree `dist/bin`, `dist/lib`
holding a copy of this machine's loader (and, for glibc, libc.so.6, found through
`RUNPATH $ORIGIN/../lib`):

- `{UNPATCHED}`: as linked; the kernel loads the machine's loader from PT_INTERP;
- `{PATCHED}`: `relinterp patch --loader-rel ../lib/LOADER`, in `dist/bin`;
- `{DIRECT}`: `dist/lib/LOADER dist/bin/hello.real`, the unpatched copy.

Each is started {args.spawns} times per pass after {WARMUP_ROUNDS} warm-up rounds, the
variants interleaved in a shuffled order each round; time from `posix_spawn` to
`waitpid`; {STARTUP_PASSES} passes.  Then, per variant: the system calls of one start
(`strace -f`), the mean minor page faults of {args.faults} starts (`ru_minflt` from `wait4`;
where the libraries land moves fault-around windows, so single starts vary by a few), and
the mappings when `main` runs: how many lines `/proc/self/maps` has, and the KiB of the
anonymous ones (`src/maps.c`, built and started the same three ways; an anonymous mapping
next to another of the same protection merges with it, so only the KiB show some).  Stub blob: {stub} bytes.

A patched program has one mapping more than the unpatched one by construction: the
stub's own segment, which the kernel maps from the file.  The stub itself leaves the
loader mapped as the kernel would, plus the page after it that holds the program header
table the loader is given; that page shares the loader's bss mapping when the loader has
bss pages (musl), and is one mapping more when it has none (glibc's ld.so, whose bss fits
in its last file page).

{chr(10).join(sections)}
## Where the difference goes

The patched musl hello starts {gap:.1f} µs later than the unpatched one (pass 1 medians).
Some of the stub's system calls, each timed in a loop of 20,000 on this machine
(`src/syscost.c`):

| | µs per call |
|---|---|
| entering the kernel at all (`getppid`) | {costs["getppid"]:.2f} |
| `readlinkat("/proc/self/exe")`, for `$ORIGIN`: a kernel-loaded start has no such step | {costs["readlinkat"]:.2f} |
| `openat` + `statx` + `pread64` + `close` of the loader: the kernel does this inside `execve`, without entering itself four times | {costs["openat-statx-pread-close"]:.2f} |

The mappings themselves cost the same as the kernel's: it maps the same segments for
PT_INTERP.  The page faults are in the tables above.

## Start-up against candidates that miss

The musl hello patched with k candidates that do not exist (`../missing-i/LOADER`)
before the one that does: each miss is one failed `openat`.

{startup_table(startup)}

{counts_table(startup, counts)}

## How to reproduce

`python3 bench/startup.py` from the project root (`--spawns`, `--faults` for a shorter
run); needs musl-tools, gcc, libc6-dev and strace.
"""


def parse_args(description: str = __doc__) -> argparse.Namespace:
    parser = spawns_parser(description, 3000)
    parser.add_argument("--faults", type=at_least(1), default=300,
                        help="starts per variant for the mean page faults (default: %(default)s)")
    return parser.parse_args()


def prepare(work: Path) -> dict[str, str]:
    """Check the tools, wipe `work`; the machine and the libcs the figures depend on."""
    missing = [tool for tool in ("musl-gcc", "gcc", "strace") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"missing: {', '.join(missing)} (apt-get install musl-tools gcc libc6-dev strace)")
    shutil.rmtree(work, ignore_errors=True)
    return describe_machine(
        musl=check_output(["dpkg-query", "-W", "-f", "${Version}\\n", "musl"]).split()[0],
        glibc=os.confstr("CS_GNU_LIBC_VERSION") or "?")


def main() -> None:
    args = parse_args()
    started = time.monotonic()
    machine = prepare(STARTUP_WORK)
    results: dict = {"libcs": {}}
    for libc in LIBCS:
        print(f"{libc.name}: building, then {STARTUP_PASSES} passes of {args.spawns} spawns per variant", flush=True)
        work = STARTUP_WORK / libc.name
        built = build(libc, work)
        startup = measure_startup(built.variants, args.spawns)
        counts = count(built.variants, built.maps, args.faults, work)
        calls = stub_calls(strace_lines(built.variants[1].argv, work))
        results["libcs"][libc.name] = (built, startup, counts, calls)
    results["costs"] = syscall_costs(STARTUP_WORK, LIBCS[0].loader)
    print(f"candidates that miss: {', '.join(map(str, MISSES))}", flush=True)
    misses = build_misses(results["libcs"]["musl"][0], STARTUP_WORK / "musl")
    results["misses"] = (measure_startup(misses, args.spawns), count(misses, None, args.faults, STARTUP_WORK))
    command = shlex.join(["python3", *sys.argv])
    RESULTS.write_text(render(command, machine, args, results, time.monotonic() - started))
    for name, (_, startup, counts, calls) in results["libcs"].items():
        ratios = " and ".join(f"{ratio(run, PATCHED):.3f}" for run in startup)
        print(f"{name}: patched / unpatched {ratios}; stub system calls {len(calls)}; "
              f"mappings, anonymous KiB {counts[UNPATCHED].mappings} -> {counts[PATCHED].mappings}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
