#!/usr/bin/env python3
"""Start-up of a patched glibc program: a hello world, patched vs. unpatched, and where
the difference goes (page faults, system calls, user-mode instructions).

Builds everything in bench/work/glibc/ (wiped first), writes bench/RESULTS-glibc.md and
prints a summary.  Patches with this checkout's relinterp.  See bench/README.md.

    python3 bench/glibc.py [--spawns N] [--counts N]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from run import (BENCH, ROOT, SRC, STARTUP_PASSES, WARMUP_ROUNDS, WORK, Spread, Variant, at_least,
                 check_output, describe_machine, measure_startup, ratio, startup_table, table)

GLIBC_WORK = WORK / "glibc"
RESULTS = BENCH / "RESULTS-glibc.md"
LOADER = "ld-linux-x86-64.so.2"
LOADER_REL = f"../lib/{LOADER}"
CFLAGS = ("-O2", "-fPIE", "-pie", "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib")
WRAPPER_SCRIPT = f"""#!/bin/sh
here=${{0%/*}}
exec "$here/../lib/{LOADER}" "$here/hello.real" "$@"
"""
TARGET_STARTUP_RATIO = 1.05

UNPATCHED = "unpatched"
KERNEL_BUNDLED = "bundled loader by PT_INTERP"
PATCHED = "patched"
DIRECT = "ld.so direct"
WRAPPER = "sh wrapper"


# ---------------------------------------------------------------- building


def machine_file(name: str) -> Path:
    """The file gcc links `name` from: the machine's glibc."""
    found = check_output(["gcc", f"-print-file-name={name}"]).strip()
    if not os.path.isabs(found):
        sys.exit(f"gcc does not know {name}: install gcc and libc6-dev")
    return Path(os.path.realpath(found))


def gcc(output: Path, *flags: str) -> Path:
    check_output(["gcc", *CFLAGS, *flags, "-o", str(output), str(SRC / "hello.c")])
    return output


def build(root: Path) -> list[Variant]:
    """The dist tree (bin/, lib/ with the machine's loader and libc.so.6) and every way
    of starting the same hello world from it."""
    bin_dir, lib = root / "dist" / "bin", root / "dist" / "lib"
    bin_dir.mkdir(parents=True)
    lib.mkdir()
    for name in (LOADER, "libc.so.6"):
        shutil.copy2(machine_file(name), lib / name)
    hello = gcc(bin_dir / "hello.unpatched")  # PT_INTERP: the machine's loader
    # Linked to name the bundled loader by absolute path: the very files the patched
    # program uses, loaded by the kernel; the difference to `patched` is the stub.
    bundled = gcc(bin_dir / "hello.bundled", f"-Wl,--dynamic-linker={lib / LOADER}")
    real = bin_dir / "hello.real"
    shutil.copy2(hello, real)
    patched = bin_dir / "hello"
    subprocess.run([sys.executable, "-m", "relinterp", "patch", str(hello), "--loader-rel", LOADER_REL,
                    "-o", str(patched)], check=True, capture_output=True, cwd=ROOT)
    wrapper = bin_dir / "hello.sh"
    wrapper.write_text(WRAPPER_SCRIPT)
    wrapper.chmod(0o755)
    return [
        Variant(UNPATCHED, [str(hello)]),
        Variant(KERNEL_BUNDLED, [str(bundled)]),
        Variant(PATCHED, [str(patched)]),
        Variant(DIRECT, [str(lib / LOADER), str(real)]),
        Variant(WRAPPER, [str(wrapper)]),
    ]


# ---------------------------------------------------------------- counting


@dataclass(frozen=True)
class Counts:
    minor_faults: float  # mean per start
    syscalls: int | None  # None: strace is not installed
    instructions: int | None  # user mode; None: valgrind is not installed


def minor_faults(argv: list[str], runs: int) -> float:
    """Mean ru_minflt of the child over `runs` starts.  Each count is exact, but where the
    libraries land (ASLR) moves fault-around windows, so single starts vary by a few."""
    counts = []
    with open(os.devnull, "wb") as devnull:
        for _ in range(runs):
            pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, devnull.fileno(), 1)])
            counts.append(os.wait4(pid, 0)[2].ru_minflt)
    return statistics.fmean(counts)


def strace_lines(argv: list[str], work: Path) -> list[str] | None:
    """Every system call of one start (following children), as strace prints them."""
    if shutil.which("strace") is None:
        return None
    log = work / "strace.log"
    subprocess.run(["strace", "-f", "-qq", "-o", str(log), *argv], check=True, capture_output=True)
    return [line for line in log.read_text().splitlines() if "(" in line and not line.startswith("+++")]


def user_instructions(argv: list[str]) -> int | None:
    if shutil.which("valgrind") is None:
        return None
    result = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                             "--trace-children=yes", *argv], capture_output=True, text=True, check=True)
    return sum(int(n) for n in re.findall(r"Collected : (\d+)", result.stderr))


def count(variants: list[Variant], runs: int, work: Path) -> tuple[dict[str, Counts], list[str]]:
    """Counts per variant, and the system calls the patched program makes before its loader."""
    counts, stub_calls = {}, []
    for v in variants:
        calls = strace_lines(v.argv, work)
        counts[v.name] = Counts(minor_faults(v.argv, runs), None if calls is None else len(calls),
                                user_instructions(v.argv))
        if v.name == PATCHED and calls is not None:
            stub_calls = stub_syscalls(calls)
    return counts, stub_calls


def stub_syscalls(calls: list[str]) -> list[str]:
    """From execve to the loader's first call (glibc's ld.so starts with brk(NULL))."""
    made = []
    for line in calls[1:]:
        call = line.split(" ", 1)[-1].strip()
        if call.startswith("brk("):
            break
        made.append(re.sub(r"0x[0-9a-f]{8,}", "0x…", call))
    return made


# ---------------------------------------------------------------- report


def counts_table(counts: dict[str, Counts]) -> str:
    def shown(value) -> str:
        return "n/a" if value is None else f"{value:,}"

    rows = [[name, f"{c.minor_faults:.1f}", shown(c.syscalls), shown(c.instructions)] for name, c in counts.items()]
    return table(["Variant", "minor faults (mean)", "system calls", "user-mode instructions"], rows)


def difference(a: int | None, b: int | None) -> str:
    return "n/a" if a is None or b is None else f"{a - b:+,}"


def render(command: str, machine: dict[str, str], spawns: int, runs: int, startup: list[dict[str, Spread]],
           counts: dict[str, Counts], stub_calls: list[str], elapsed_s: float) -> str:
    ratios = [ratio(run, PATCHED) for run in startup]
    met = all(r <= TARGET_STARTUP_RATIO for r in ratios)
    stub_ratio = " and ".join(f"{ratio(run, PATCHED, KERNEL_BUNDLED):.3f}" for run in startup)
    faults = counts[PATCHED].minor_faults - counts[KERNEL_BUNDLED].minor_faults
    extra_calls = difference(counts[PATCHED].syscalls, counts[KERNEL_BUNDLED].syscalls)
    extra_instructions = difference(counts[PATCHED].instructions, counts[KERNEL_BUNDLED].instructions)
    calls = "\n".join(stub_calls) or "(strace not installed)"
    return f"""# relinterp benchmarks: glibc start-up

Produced by `{command}` in {elapsed_s:.0f} s on {machine["Date"]}.
What is measured and how: [README.md](README.md).

## Machine

{table(["", ""], [[k, v] for k, v in machine.items()])}

## Target

| Target | Figure |  |
|---|---|---|
| start-up: patched / unpatched ≤ {TARGET_STARTUP_RATIO} | {" and ".join(f"{r:.3f}" for r in ratios)} | {"met" if met else "**missed**"} |

## Start-up

A glibc hello world (gcc, PIE, `RUNPATH $ORIGIN/../lib`) printing one line to /dev/null,
from a tree `dist/bin`, `dist/lib/{{{LOADER},libc.so.6}}` copied from this machine;
started {spawns} times per variant and pass after {WARMUP_ROUNDS} warm-up rounds, the variants
interleaved in a shuffled order each round; time from `posix_spawn` to `waitpid`.

- `{UNPATCHED}`: as linked; the kernel loads `/lib64/{LOADER}`, which takes libc.so.6
  from `dist/lib` (RUNPATH).
- `{KERNEL_BUNDLED}`: linked with `--dynamic-linker=<absolute path of dist/lib/{LOADER}>`:
  the same files the patched program uses, loaded by the kernel.
- `{PATCHED}`: `relinterp patch --loader-rel {LOADER_REL}`.
- `{DIRECT}`: `dist/lib/{LOADER} dist/bin/hello.real`.
- `{WRAPPER}`: `#!/bin/sh` running `"${{0%/*}}/../lib/{LOADER}" "${{0%/*}}/hello.real"`.

{startup_table(startup)}

patched / {KERNEL_BUNDLED}: {stub_ratio}.

## Where the difference goes

Counts that do not depend on the machine's load: minor page faults (mean of {runs}
starts, `ru_minflt` from `wait4`), system calls of one start (`strace -f`), and
user-mode instructions of one start (`valgrind --tool=callgrind`, children followed).

{counts_table(counts)}

Patched against the kernel-loaded bundle: {faults:+.1f} page faults, {extra_calls} system calls,
{extra_instructions} user-mode instructions.  Two faults are the stub's own: its code page,
and the one anonymous page holding the program header table and paths the loader is
given (it keeps pointing at them).  The system calls are those the stub makes before the
loader's first (`brk`); for PT_INTERP the kernel does the same work inside `execve`
(open the loader, read its headers, map its segments, zero its bss tail):

```
{calls}
```

## How to reproduce

`python3 bench/glibc.py` from the project root (`--spawns`, `--counts` for a shorter run).
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spawns", type=at_least(2), default=3000,
                        help="start-ups per variant and pass (default: %(default)s)")
    parser.add_argument("--counts", type=at_least(1), default=500,
                        help="starts per variant for the page-fault median (default: %(default)s)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    started = time.monotonic()
    if shutil.which("gcc") is None:
        sys.exit("gcc not found: apt-get install gcc libc6-dev")
    shutil.rmtree(GLIBC_WORK, ignore_errors=True)
    GLIBC_WORK.mkdir(parents=True)
    machine = describe_machine(glibc=os.confstr("CS_GNU_LIBC_VERSION") or "?")
    print("1. building hello and its dist tree", flush=True)
    variants = build(GLIBC_WORK)
    print(f"2. start-up: {STARTUP_PASSES} passes of {args.spawns} interleaved spawns per variant", flush=True)
    startup = measure_startup(variants, args.spawns)
    print("3. counting faults, system calls and instructions", flush=True)
    counts, stub_calls = count(variants, args.counts, GLIBC_WORK)
    command = shlex.join(["python3", *sys.argv])
    RESULTS.write_text(render(command, machine, args.spawns, args.counts, startup, counts, stub_calls,
                              time.monotonic() - started))
    ratios = " and ".join(f"{ratio(run, PATCHED):.3f}" for run in startup)
    print(f"patched / unpatched: {ratios} (target ≤ {TARGET_STARTUP_RATIO})\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
