#!/usr/bin/env python3
"""Start-up cost of the stub's debugger hook (stub/debug_hook.h), musl and glibc.

Four ways to start a hello world, per libc, interleaved:
- `unpatched`: the kernel loads PT_INTERP;
- `patched, no hook`: patched with the stub as it was before the hook (the blob at
  --baseline, by default the newest commit whose stub has no stub/debug_hook.h);
- `patched`: patched with the installed stub: without a debugger the hook reads one byte;
- `patched, hook always on`: the same file with the first instruction of the stub's
  `_dl_debug_state` made `rep ret` (f3 c3) - still a return, but no longer the one the
  stub expects, so it redirects the loader's `_dl_debug_state` on every start, as it does
  under a debugger: the cost of an always-on hook (two mprotect calls and a page copy).

Builds in bench/work/debugging/ (wiped first), writes bench/RESULTS-debugging.md.

    python3 bench/debugging.py [--spawns N] [--baseline REV]
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import glibc as counting  # noqa: E402  (bench/glibc.py: faults, system calls, instructions)
import run as common  # noqa: E402  (bench/run.py)

from relinterp.elf.executable import read_executable  # noqa: E402
from relinterp.rewrite.plan import plan_patch  # noqa: E402
from relinterp.rewrite.stub import StubBlob, load_stub  # noqa: E402
from relinterp.rewrite.write import apply_plan  # noqa: E402

WORK = common.WORK / "debugging"
RESULTS = common.BENCH / "RESULTS-debugging.md"
GLIBC_LOADER = "ld-linux-x86-64.so.2"
REP_RET = b"\xf3\xc3"
TARGET_RATIO = 1.02  # patched / unpatched
TARGET_HOOK_RATIO = 1.01  # patched / patched without the hook: within noise
FAULT_RUNS = 50


def git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(common.ROOT), *args], check=True, capture_output=True).stdout


def default_baseline() -> str:
    """The newest commit whose stub blobs were built without the hook."""
    for rev in git("rev-list", "HEAD", "--", "relinterp/_stubs/manifest.json").decode().split():
        if "stub/debug_hook.h" not in git("ls-tree", "-r", "--name-only", rev, "stub/").decode().split():
            return rev
    sys.exit("no commit without stub/debug_hook.h here: give --baseline")


def baseline_stub(rev: str) -> StubBlob:
    """The x86_64 blob as committed at `rev`."""
    entry = json.loads(git("show", f"{rev}:relinterp/_stubs/manifest.json"))["stubs"]["x86_64"]
    code = git("show", f"{rev}:relinterp/_stubs/{entry['file']}")
    current = load_stub("x86_64")
    return StubBlob(arch="baseline", machine=current.machine, elfclass=64, little_endian=True, code=code,
                    entry_offset=entry["entry_offset"], config_offset=entry["config_offset"], sha256="")


def patch_with(stub: StubBlob, program: Path, loader_rel: str, output: Path) -> None:
    plan = plan_patch(read_executable(program), stub, (loader_rel,))
    apply_plan(plan, str(program), str(output))
    output.chmod(0o755)


def always_hooked(patched: Path, output: Path) -> None:
    """A copy whose stub sees a changed `_dl_debug_state` on every start."""
    exe = read_executable(patched)
    stub = load_stub("x86_64")
    at = exe.patch.segment.offset + stub.debug_state_offset
    data = bytearray(patched.read_bytes())
    assert data[at : at + 2] == b"\xc3\x66", "the stub's _dl_debug_state is not ret + padding"
    data[at : at + 2] = REP_RET
    output.write_bytes(data)
    output.chmod(0o755)


def build(libc: str, baseline: StubBlob) -> list[common.Variant]:
    root = WORK / libc
    (root / "bin").mkdir(parents=True)
    (root / "lib").mkdir()
    hello = root / "hello"
    if libc == "musl":
        common.musl_gcc(hello, common.SRC / "hello.c")
        shutil.copy2(common.SYSTEM_LOADER, root / "lib" / "ld-musl.so")
        loader_rel = common.LOADER_REL
    else:
        common.check_output(["gcc", "-O2", "-fPIE", "-pie", "-o", str(hello), str(common.SRC / "hello.c")])
        for name in (GLIBC_LOADER, "libc.so.6"):
            found = common.check_output(["gcc", f"-print-file-name={name}"]).strip()
            shutil.copy2(Path(found).resolve(), root / "lib" / name)
        loader_rel = f"../lib/{GLIBC_LOADER}"
    files = {name: root / "bin" / f"hello-{n}" for n, name in enumerate(("no hook", "", "hook always on"))}
    patch_with(baseline, hello, loader_rel, files["no hook"])
    patch_with(load_stub("x86_64"), hello, loader_rel, files[""])
    always_hooked(files[""], files["hook always on"])
    expected = common.check_output([str(hello)])
    variants = [common.Variant(f"{libc} unpatched", [str(hello)])]
    for name, path in files.items():
        if common.check_output([str(path)]) != expected:
            sys.exit(f"{path} does not print what {hello} prints")
        variants.append(common.Variant(f"{libc} patched{', ' + name if name else ''}", [str(path)]))
    return variants


def render(command: str, machine: dict[str, str], spawns: int, baseline: str,
           passes: list[dict[str, common.Spread]], counts: dict, elapsed_s: float) -> str:
    rows = []
    for libc in ("musl", "glibc"):
        for base, bound in (("unpatched", TARGET_RATIO), ("patched, no hook", TARGET_HOOK_RATIO)):
            ratios = [common.ratio(run, f"{libc} patched", f"{libc} {base}") for run in passes]
            rows.append([f"{libc}: patched / {base} ≤ {bound}", " and ".join(f"{r:.3f}" for r in ratios),
                         "met" if all(r <= bound for r in ratios) else "**missed**"])
    tables = "\n\n".join(f"### {libc}\n\n" + common.startup_table(
        [{k: v for k, v in run.items() if k.startswith(libc)} for run in passes], f"{libc} unpatched")
        for libc in ("musl", "glibc"))
    return f"""# relinterp benchmarks: the debugger hook

Produced by `{command}` in {elapsed_s:.0f} s on {machine["Date"]}.
Baseline stub (no hook): `{baseline}`.

## Machine

{common.table(["", ""], [[k, v] for k, v in machine.items()])}

## Targets

{common.table(["Target", "Figure", ""], rows)}

## Start-up

A hello world (PIE) printing one line to /dev/null, started {spawns} times per variant and
pass after {common.WARMUP_ROUNDS} warm-up rounds, all eight variants interleaved in a
shuffled order each round; time from `posix_spawn` to `waitpid` (as in
[RESULTS.md](RESULTS.md)).  See the docstring of bench/debugging.py for the variants.

{tables}

## What a start does

Exact counts, where timings on a shared machine are noisy: minor page faults (mean of
{FAULT_RUNS} starts), system calls (`strace -f`) and user-mode instructions (valgrind's
callgrind) of one start.

{counting.counts_table(counts)}

## How to reproduce

`python3 bench/debugging.py` from a git checkout, with relinterp installed for that
interpreter (`--spawns` for a shorter run).
"""


def main() -> None:
    parser = common.spawns_parser(__doc__, 2000)
    parser.add_argument("--baseline", help="git revision of the stub without the hook")
    args = parser.parse_args()
    started = time.monotonic()
    baseline = args.baseline or default_baseline()
    shutil.rmtree(WORK, ignore_errors=True)
    machine = common.describe_machine()
    stub = baseline_stub(baseline)
    variants = build("musl", stub) + build("glibc", stub)
    print(f"{common.STARTUP_PASSES} passes of {args.spawns} interleaved spawns per variant", flush=True)
    passes = common.measure_startup(variants, args.spawns)
    counts, _ = counting.count(variants, FAULT_RUNS, WORK)
    command = shlex.join(["python3", *sys.argv])
    RESULTS.write_text(render(command, machine, args.spawns, baseline, passes, counts, time.monotonic() - started))
    for name in passes[0]:
        libc = name.split()[0]
        ratios = " and ".join(f"{common.ratio(run, name, f'{libc} unpatched'):.3f}" for run in passes)
        print(f"{name}: {ratios}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
