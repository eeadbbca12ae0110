#!/usr/bin/env python3
"""relinterp benchmarks: start-up cost of a patched program, patching a big file, file
growth, and `relinterp --help` latency.

Builds everything in bench/work/ (wiped first), writes bench/RESULTS.md and prints a
summary.  See bench/README.md.

    python3 bench/run.py [--spawns N] [--big-mb N] [--repeats N]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import random
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SRC = BENCH / "src"
WORK = BENCH / "work"
RESULTS = BENCH / "RESULTS.md"
MANIFEST = ROOT / "relinterp" / "_stubs" / "manifest.json"

SYSTEM_LOADER = "/lib/ld-musl-x86_64.so.1"
LOADER_REL = "../lib/ld-musl.so"
CFLAGS = ("-O2", "-fPIE", "-pie")
WRAPPER_SCRIPT = """#!/bin/sh
here=${0%/*}
exec "$here/../lib/ld-musl.so" "$here/hello.real" "$@"
"""

STARTUP_PASSES = 2
WARMUP_ROUNDS = 50
HELP_RUNS = 20
SHUFFLE_SEED = 1  # fixed so that two runs spawn in the same order

TARGET_STARTUP_RATIO = 1.05
TARGET_PATCH_TIME_RATIO = 0.5
TARGET_PATCH_RSS_MIB = 64
TARGET_MAX_PADDING = 64  # bytes: alignment only, nothing page-sized
TARGET_HELP_MS = 150
TARGET_SMALL_PATCH_RATIO = 3.0  # relinterp patch of a small file ÷ python -c pass

MIB = 1 << 20
PT_LOAD = 1

RELINTERP = "relinterp patch"
CP = "cp"
PATCHELF = "patchelf --set-interpreter"


# ---------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Spread:
    median: float
    p10: float
    p90: float

    @classmethod
    def of(cls, samples: list[float]) -> Spread:
        deciles = statistics.quantiles(samples, n=10)
        return cls(statistics.median(samples), deciles[0], deciles[-1])


# ---------------------------------------------------------------- processes


def check_output(argv: list[str], **kwargs) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs).stdout


def timed_spawn(argv: list[str], devnull: int) -> int:
    """Nanoseconds from posix_spawn to reaping the child; its stdout goes to /dev/null."""
    start = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter_ns() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{shlex.join(argv)}: exit status {os.waitstatus_to_exitcode(status)}")
    return elapsed


@dataclass(frozen=True)
class Usage:
    wall_ns: int
    peak_rss_kib: int


def measure_usage(probe: Path, argv: list[str]) -> Usage:
    """Wall time and peak RSS of one fresh child running `argv` (see src/peak_rss.c)."""
    status, wall_ns, peak_kib = map(int, check_output([str(probe), *argv]).split())
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{shlex.join(argv)}: exit status {os.waitstatus_to_exitcode(status)}")
    return Usage(wall_ns, peak_kib)


def relinterp_script() -> Path:
    """The console script installed for this interpreter, not a version manager's shim,
    with the package's bytecode compiled as an installation compiles it: where
    PYTHONDONTWRITEBYTECODE is set, an editable install would otherwise compile every
    module from source at each run (about 50 ms), which no installed relinterp does."""
    script = Path(sysconfig.get_path("scripts")) / "relinterp"
    if not script.exists():
        sys.exit(f"{script} not found: install relinterp first (pip install -e {ROOT})")
    compileall.compile_dir(ROOT / "relinterp", quiet=1)
    return script


def check_tools() -> None:
    missing = [tool for tool in ("musl-gcc", "patchelf", "cp", "git", "dpkg-query") if not shutil.which(tool)]
    if missing:
        sys.exit(f"missing: {', '.join(missing)} (apt-get install musl-tools patchelf)")
    if not os.path.exists(SYSTEM_LOADER):
        sys.exit(f"{SYSTEM_LOADER} not found: apt-get install musl")


PROBE_QUIET_S = 0.04  # creating 300 empty files: ~10 ms here when no deletion is being discarded


def settle(work: Path) -> float:
    """Wait (90 s at most) until creating files costs what it costs on a quiet machine:
    with the `discard` mount option, ext4 discards the blocks of deleted files at its next
    journal commits, and file creation waits for that.  Returns the last probe's time
    for 300 files, in seconds."""
    subprocess.run(["sync"], check=True)
    deadline, quiet, took = time.monotonic() + 90, 0, 0.0
    while time.monotonic() < deadline and quiet < 2:
        probe = work / f"probe-{time.monotonic_ns()}"
        probe.mkdir(parents=True)
        start = time.perf_counter()
        for n in range(300):
            os.close(os.open(probe / str(n), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        took = time.perf_counter() - start
        quiet = quiet + 1 if took < PROBE_QUIET_S else 0
        time.sleep(2)
    return took


# ---------------------------------------------------------------- machine


def describe_machine(**tools: str) -> dict[str, str]:
    """The machine and the tools a report's figures depend on: musl and patchelf by
    default, or the `tools` given (name=version)."""
    if not tools:
        tools = {
            "musl": check_output(["dpkg-query", "-W", "-f", "${Version}\\n", "musl"]).split()[0],  # one line per arch
            "patchelf": check_output(["patchelf", "--version"]).strip(),
        }
    return {
        "Date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "Kernel": platform.release(),
        "CPU": cpu_model(),
        "nproc": str(len(os.sched_getaffinity(0))),
        "Python": f"{platform.python_version()} ({sys.executable})",
        "gcc": check_output(["gcc", "--version"]).splitlines()[0],
        **tools,
        "relinterp": relinterp_revision(),
    }


def start_bench(work: Path) -> tuple[Path, dict[str, str]]:
    """Check the tools, wipe `work`; the relinterp script to run and the machine's description."""
    check_tools()
    script = relinterp_script()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return script, describe_machine()


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def relinterp_revision() -> str:
    commit = check_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).strip()
    changed = check_output(["git", "-C", str(ROOT), "status", "--porcelain", "--", "relinterp", "stub"])
    return f"{commit} (with uncommitted changes)" if changed else commit


# ---------------------------------------------------------------- building


def musl_gcc(output: Path, *sources: Path, flags: tuple[str, ...] = CFLAGS, cwd: Path | None = None) -> Path:
    check_output(["musl-gcc", *flags, "-o", str(output), *map(str, sources)], cwd=cwd)
    return output


def build_probe(work: Path) -> Path:
    # Static, so the children it forks inherit next to no RSS.
    return musl_gcc(work / "peak_rss", SRC / "peak_rss.c", flags=("-O2", "-static"))


def make_dist(root: Path) -> Path:
    """root/dist with bin/ and lib/ld-musl.so, a copy of the system's musl loader."""
    dist = root / "dist"
    (dist / "bin").mkdir(parents=True)
    (dist / "lib").mkdir()
    shutil.copy2(os.path.realpath(SYSTEM_LOADER), dist / "lib" / "ld-musl.so")
    return dist


def relinterp_patch(script: Path, program: Path, output: Path) -> list[str]:
    return [str(script), "patch", str(program), "--loader-rel", LOADER_REL, "-o", str(output)]


@dataclass(frozen=True)
class Variant:
    name: str
    argv: list[str]


def build_hello(root: Path, script: Path) -> tuple[Path, Path, list[Variant]]:
    """The hello program, its patched copy, and the four ways of starting it."""
    root.mkdir()
    hello = musl_gcc(root / "hello", SRC / "hello.c")
    dist = make_dist(root)
    real = dist / "bin" / "hello.real"
    shutil.copy2(hello, real)
    patched = dist / "bin" / "hello"
    check_output(relinterp_patch(script, hello, patched))
    wrapper = dist / "bin" / "hello.sh"
    wrapper.write_text(WRAPPER_SCRIPT)
    wrapper.chmod(0o755)
    variants = [
        Variant("unpatched", [str(hello)]),
        Variant("patched", [str(patched)]),
        Variant("sh wrapper", [str(wrapper)]),
        Variant("ld.so direct", [str(dist / "lib" / "ld-musl.so"), str(real)]),
    ]
    return hello, patched, variants


def write_payload(path: Path, mib: int) -> None:
    with open(path, "wb") as out:
        for _ in range(mib):
            out.write(os.urandom(MIB))


def build_big(root: Path, payload_mib: int) -> Path:
    root.mkdir()
    payload = root / "payload.bin"
    write_payload(payload, payload_mib)
    big = musl_gcc(root / "big", SRC / "big.c", SRC / "payload.S", cwd=root)  # .incbin reads ./payload.bin
    payload.unlink()
    return big


# ---------------------------------------------------------------- 1. start-up


def interleaved_spawns(variants: list[Variant], rounds: int, rng: random.Random) -> dict[str, list[int]]:
    """Each round spawns every variant once, in a fresh random order."""
    samples: dict[str, list[int]] = {v.name: [] for v in variants}
    order = list(variants)
    with open(os.devnull, "wb") as devnull:
        for _ in range(rounds):
            rng.shuffle(order)
            for variant in order:
                samples[variant.name].append(timed_spawn(variant.argv, devnull.fileno()))
    return samples


def measure_startup(variants: list[Variant], spawns: int) -> list[dict[str, Spread]]:
    """One Spread (µs) per variant, for each of STARTUP_PASSES passes."""
    rng = random.Random(SHUFFLE_SEED)
    interleaved_spawns(variants, WARMUP_ROUNDS, rng)
    passes = []
    for _ in range(STARTUP_PASSES):
        samples = interleaved_spawns(variants, spawns, rng)
        passes.append({name: Spread.of([ns / 1e3 for ns in runs]) for name, runs in samples.items()})
    return passes


# ---------------------------------------------------------------- 2. patching a big file


@dataclass(frozen=True)
class Tool:
    name: str
    argv: list[str]
    output: Path


def patching_tools(script: Path, big: Path, patched: Path, loader: Path) -> list[Tool]:
    cp_out = big.with_suffix(".cp")
    patchelf_out = big.with_suffix(".patchelf")
    return [
        Tool(RELINTERP, relinterp_patch(script, big, patched), patched),
        Tool(CP, ["cp", str(big), str(cp_out)], cp_out),
        Tool(PATCHELF, ["patchelf", "--set-interpreter", str(loader), "--output", str(patchelf_out), str(big)],
             patchelf_out),
    ]


def run_tool(probe: Path, tool: Tool) -> Usage:
    tool.output.unlink(missing_ok=True)
    os.sync()  # so that writing back the previous run's output does not land in this one
    return measure_usage(probe, tool.argv)


def measure_patching(probe: Path, tools: list[Tool], repeats: int) -> dict[str, list[Usage]]:
    """Each tool once to warm up, then `repeats` rounds of every tool in a fresh random order."""
    rng = random.Random(SHUFFLE_SEED)
    for tool in tools:
        run_tool(probe, tool)
    usages: dict[str, list[Usage]] = {tool.name: [] for tool in tools}
    order = list(tools)
    for _ in range(repeats):
        rng.shuffle(order)
        for tool in order:
            usages[tool.name].append(run_tool(probe, tool))
    return usages


def same_output(original: Path, patched: Path) -> str:
    """What both print; the patched program must exit 0 and print the same."""
    expected = check_output([str(original)])
    actual = check_output([str(patched)])
    if actual != expected:
        sys.exit(f"{patched} printed {actual!r}, the original {expected!r}")
    return actual.strip()


# ---------------------------------------------------------------- 3. file growth


@dataclass(frozen=True)
class Growth:
    program: str
    original: int
    patched: int
    stub: int  # the stub blob
    config: int  # the rest of the stub segment: loader paths, restore record
    padding: int  # between the end of the original's loaded bytes and the stub segment

    @property
    def added(self) -> int:
        return self.patched - self.original

    @property
    def tables(self) -> int:
        """The new section header table and the section data the patch adds (names, and
        the symbol table that names `_dl_debug_state`): what is left once the stub
        segment and the padding before it are counted, since the original's bytes after
        its loaded part (debugging information, symbols) move behind the stub segment
        whole."""
        return self.added - self.stub - self.config - self.padding


def stub_size() -> int:
    return json.loads(MANIFEST.read_text())["stubs"]["x86_64"]["size"]


def unpack_at(fd: int, layout: str, offset: int) -> tuple:
    return struct.unpack(layout, os.pread(fd, struct.calcsize(layout), offset))


def loads(path: Path) -> list[tuple[int, int]]:
    """(p_offset, p_filesz) of each PT_LOAD of an ELF64 file."""
    with open(path, "rb") as f:
        fd = f.fileno()
        (phoff,) = unpack_at(fd, "<Q", 0x20)
        phentsize, phnum = unpack_at(fd, "<HH", 0x36)
        phdrs = [unpack_at(fd, "<IIQQQQ", phoff + i * phentsize) for i in range(phnum)]
    return [(offset, filesz) for p_type, _, offset, _, _, filesz in phdrs if p_type == PT_LOAD]


def measure_growth(program: str, original: Path, patched: Path) -> Growth:
    """Split what the patch added, reading both files' ELF64 program headers: the stub
    segment (the last PT_LOAD), the padding that aligns it after the original's loaded
    bytes, and the rest (Growth.tables)."""
    loaded_end = max(offset + filesz for offset, filesz in loads(original))
    stub_offset, stub_segment = loads(patched)[-1]
    stub = stub_size()
    return Growth(program, original.stat().st_size, patched.stat().st_size, stub, stub_segment - stub,
                  stub_offset - loaded_end)


# ---------------------------------------------------------------- 4. --help latency


def measure_latency_ms(argv: list[str], runs: int) -> Spread:
    with open(os.devnull, "wb") as devnull:
        timed_spawn(argv, devnull.fileno())
        return Spread.of([timed_spawn(argv, devnull.fileno()) / 1e6 for _ in range(runs)])


def help_commands(script: Path, hello: Path) -> list[tuple[str, list[str]]]:
    """--help, a patch of the small hello (a new output each run: a real patch), and the
    interpreter's own start-up to compare them with."""
    return [
        (f"`relinterp --help` ({script})", [str(script), "--help"]),
        ("`python -c pass` (interpreter start-up, for reference)", [sys.executable, "-c", "pass"]),
        ("`relinterp patch HELLO --loader-rel ... -o OUT` (small file)",
         relinterp_patch(script, hello, hello.with_name("hello.again"))),
    ]


# ---------------------------------------------------------------- report


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def ratio(run: dict[str, Spread], name: str, base: str = "unpatched") -> float:
    """A variant's median start-up as a multiple of `base`'s, in one pass."""
    return run[name].median / run[base].median


def startup_table(passes: list[dict[str, Spread]], base: str = "unpatched") -> str:
    """Median (p10–p90) and ratio to `base`, per variant and pass."""
    headers = ["Variant"]
    for n in range(1, len(passes) + 1):
        headers += [f"pass {n}: median µs (p10–p90)", f"pass {n}: × {base}"]
    rows = []
    for name in passes[0]:
        row = [name]
        for run in passes:
            s = run[name]
            row += [f"{s.median:.0f} ({s.p10:.0f}–{s.p90:.0f})", f"{ratio(run, name, base):.3f}"]
        rows.append(row)
    return table(headers, rows)


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


@dataclass(frozen=True)
class Target:
    goal: str
    figure: str
    met: bool


@dataclass(frozen=True)
class Results:
    command: str
    machine: dict[str, str]
    spawns: int
    startup: list[dict[str, Spread]]
    big_size: int
    repeats: int
    tools: list[Tool]
    patching: dict[str, list[Usage]]
    big_output: str
    growth: list[Growth]
    latency: list[tuple[str, Spread]]
    relinterp: Path
    elapsed_s: float

    def patch_wall_ms(self, tool: str) -> float:
        return statistics.median(u.wall_ns for u in self.patching[tool]) / 1e6

    def patch_peak_kib(self, tool: str) -> int:
        return max(u.peak_rss_kib for u in self.patching[tool])

    def targets(self) -> list[Target]:
        startup = [ratio(run, "patched") for run in self.startup]
        time_ratio = self.patch_wall_ms(RELINTERP) / self.patch_wall_ms(PATCHELF)
        peak = self.patch_peak_kib(RELINTERP)
        help_ms = self.latency[0][1].median
        small = self.latency[2][1].median / self.latency[1][1].median
        return [
            Target(f"start-up: patched / unpatched ≤ {TARGET_STARTUP_RATIO}",
                   " and ".join(f"{r:.3f}" for r in startup), all(r <= TARGET_STARTUP_RATIO for r in startup)),
            Target(f"big file: relinterp time ≤ {TARGET_PATCH_TIME_RATIO}× patchelf's",
                   f"{time_ratio:.2f}×", time_ratio <= TARGET_PATCH_TIME_RATIO),
            Target(f"big file: relinterp peak RSS ≤ {TARGET_PATCH_RSS_MIB} MiB",
                   f"{mib(peak)} MiB", peak <= TARGET_PATCH_RSS_MIB * 1024),
            Target("growth: stub segment + section tables, no page padding",
                   ", ".join(f"{g.program}: {g.padding} B padding" for g in self.growth),
                   all(0 <= g.padding < TARGET_MAX_PADDING for g in self.growth)),
            Target(f"`relinterp --help` ≤ {TARGET_HELP_MS} ms", f"{help_ms:.0f} ms", help_ms <= TARGET_HELP_MS),
            Target(f"small-file patch ≤ {TARGET_SMALL_PATCH_RATIO:g}× `python -c pass`", f"{small:.2f}×",
                   small <= TARGET_SMALL_PATCH_RATIO),
        ]


def render(r: Results) -> str:
    relinterp_ms, relinterp_kib = r.patch_wall_ms(RELINTERP), r.patch_peak_kib(RELINTERP)
    patchelf_ms, patchelf_kib = r.patch_wall_ms(PATCHELF), r.patch_peak_kib(PATCHELF)
    patch_rows = []
    for tool in r.tools:
        walls = [u.wall_ns / 1e6 for u in r.patching[tool.name]]
        ms, kib = r.patch_wall_ms(tool.name), r.patch_peak_kib(tool.name)
        patch_rows.append([tool.name, f"{ms:.0f}", f"{min(walls):.0f}–{max(walls):.0f}", mib(kib),
                           f"{relinterp_ms / ms:.2f}", f"{relinterp_kib / kib:.2f}"])

    growth_rows = [[g.program, f"{g.original:,}", f"{g.patched:,}", f"+{g.added:,}", f"{g.stub:,}",
                    f"{g.config:,}", f"{g.padding:,}", f"{g.tables:,}"] for g in r.growth]
    latency_rows = [[label, f"{s.median:.0f}", f"{s.p10:.0f}–{s.p90:.0f}"] for label, s in r.latency]
    machine_rows = [[key, value] for key, value in r.machine.items()]
    target_rows = [[t.goal, t.figure, "met" if t.met else "**missed**"] for t in r.targets()]

    return f"""# relinterp benchmarks

Produced by `{r.command}` in {r.elapsed_s:.0f} s on {r.machine["Date"]}.
What is measured and how: [README.md](README.md).

## Machine

{table(["", ""], machine_rows)}

## Targets

{table(["Target", "Figure", ""], target_rows)}

## 1. Start-up

A musl hello world (PIE) printing one line to /dev/null, started {r.spawns} times per
variant and pass after {WARMUP_ROUNDS} warm-up rounds, the variants interleaved in a shuffled
order each round; time from `posix_spawn` to `waitpid`.  The sh wrapper finds its
directory with `${{0%/*}}` (no `dirname` process).

{startup_table(r.startup)}

## 2. Patching a big file

A {r.big_size / MIB:.0f} MiB ({r.big_size:,} bytes) dynamic musl program, warm in the page cache.
Each command in a fresh child, {r.repeats} runs each after one warm-up (interleaved, output
removed and `sync` before each run); peak RSS is the child's `ru_maxrss` from `wait4`,
taken by a small static launcher (`src/peak_rss.c`) so that the benchmark's own RSS is
not inherited.  patchelf sets an absolute interpreter path (the dist tree's loader);
`relinterp` is the console script `{r.relinterp}`.
The patched program runs from its dist tree and prints what the original prints:
`{r.big_output}`.

{table(["Command", "median wall ms", "min–max ms", "peak RSS MiB (max)",
        "relinterp ÷ this, time", "relinterp ÷ this, RSS"], patch_rows)}

relinterp / patchelf: time {relinterp_ms / patchelf_ms:.2f}×, peak RSS {relinterp_kib / patchelf_kib:.2f}×.

## 3. File growth

Bytes the patch adds, split by reading both files' program headers: the stub blob
(manifest `stubs.x86_64.size`), the rest of the stub segment (loader paths and the record
of the original headers), the padding that aligns the stub segment after the original's
loaded bytes, and the rest: the new section header table and the section data added with
it (names, and a symbol table naming `_dl_debug_state` for debuggers).  What the original
holds after its loaded bytes (debugging information, symbols) moves behind the stub
segment whole and is no growth.

{table(["Program", "original B", "patched B", "growth B", "stub blob B", "config + record B",
        "padding B", "section tables B"], growth_rows)}

## 4. `relinterp --help` and small-file patch latency

Median of {HELP_RUNS} runs after one warm-up, wall time from `posix_spawn` to `waitpid`.
The patch writes a new output each run, from the unpatched hello: a whole patch, start-up
included (a plain patch command does not load click; see docs/performance.md).

{table(["Command", "median ms", "p10–p90 ms"], latency_rows)}

## How to reproduce

`python3 bench/run.py` from the project root (`--spawns`, `--big-mb`, `--repeats` for a
shorter run).
"""


def summary(r: Results) -> str:
    lines = [f"{'met' if t.met else 'MISSED':6}  {t.goal}: {t.figure}" for t in r.targets()]
    return "\n".join(lines + [f"wrote {RESULTS} in {r.elapsed_s:.0f} s"])


# ---------------------------------------------------------------- main


def at_least(minimum: int):
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text}: must be at least {minimum}")
        return value

    return parse


def spawns_parser(description: str, default: int) -> argparse.ArgumentParser:
    """The command line of a start-up benchmark: its docstring as help, and --spawns."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spawns", type=at_least(2), default=default,
                        help="start-ups per variant and pass (default: %(default)s)")
    return parser


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spawns", type=at_least(2), default=3000,  # deciles need two samples
                        help="start-ups per variant and pass (default: %(default)s)")
    parser.add_argument("--big-mb", type=at_least(1), default=150,
                        help="payload of the big program, MiB (default: %(default)s)")
    parser.add_argument("--repeats", type=at_least(1), default=11,
                        help="timed runs per command on the big file (default: %(default)s)")
    return parser.parse_args()


def step(message: str) -> None:
    print(message, flush=True)


def main() -> None:
    args = parse_args()
    started = time.monotonic()
    check_tools()
    script = relinterp_script()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    machine = describe_machine()
    probe = build_probe(WORK)

    step("1. start-up: building hello")
    hello, hello_patched, variants = build_hello(WORK / "hello", script)
    step(f"   {STARTUP_PASSES} passes of {args.spawns} interleaved spawns per variant")
    startup = measure_startup(variants, args.spawns)

    step(f"2. big file: building a {args.big_mb} MiB program")
    big = build_big(WORK / "big", args.big_mb)
    dist = make_dist(big.parent)
    patched_big = dist / "bin" / "big"
    tools = patching_tools(script, big, patched_big, dist / "lib" / "ld-musl.so")
    step(f"   timed runs, {args.repeats} each: " + ", ".join(tool.name for tool in tools))
    patching = measure_patching(probe, tools, args.repeats)
    big_output = same_output(big, patched_big)

    step("3. file growth")
    growth = [measure_growth("hello", hello, hello_patched), measure_growth("big", big, patched_big)]

    step("4. --help latency")
    latency = [(label, measure_latency_ms(argv, HELP_RUNS)) for label, argv in help_commands(script, hello)]

    results = Results(
        command=shlex.join(["python3", *sys.argv]),
        machine=machine,
        spawns=args.spawns,
        startup=startup,
        big_size=big.stat().st_size,
        repeats=args.repeats,
        tools=tools,
        patching=patching,
        big_output=big_output,
        growth=growth,
        latency=latency,
        relinterp=script,
        elapsed_s=time.monotonic() - started,
    )
    RESULTS.write_text(render(results))
    print(summary(results))


if __name__ == "__main__":
    main()
