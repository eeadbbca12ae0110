"""Running a case both ways: the unpatched hello world, whose PT_INTERP names the loader
file, started by the kernel; and the same program patched with `--loader` naming that
file, started through the stub — each under bench/src/difftrace.c, as the case's user,
and the patched one also with a debugger's breakpoint on its `_dl_debug_state`."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile

from .case import Case, Identity
from .files import loader_file

BENCH = Path(__file__).resolve().parents[1]
SRC = BENCH / "src"
COMPILERS = {
    "x86_64": ["musl-gcc"],
    "i386": ["i686-linux-gnu-gcc", "-specs", "/usr/lib/i386-linux-musl/musl-gcc.specs"],
}
LOADERS = {"x86_64": Path("/usr/lib/x86_64-linux-musl/libc.so"), "i386": Path("/usr/lib/i386-linux-musl/libc.so")}
RUN_SECONDS = 3


@dataclass(frozen=True)
class Side:
    """How one run ended, as difftrace says, and what the program wrote."""

    report: dict[str, str]
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Programs:
    """One architecture's pair of programs and the loader path both name."""

    loader: Path
    kernel: Path  # unpatched: PT_INTERP = loader
    stub: Path  # patched: --loader loader
    stub_code: tuple[int, int]  # the file offsets of the stub's segment in `stub`
    debug_state: int  # offset of its _dl_debug_state from the start of its lowest mapping


def stub_layout(program: Path) -> tuple[tuple[int, int], int]:
    with open(program, "rb") as stream:
        elf = ELFFile(stream)
        entry = elf.header["e_entry"]
        loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
        stub = next(s for s in loads if s["p_vaddr"] <= entry < s["p_vaddr"] + s["p_memsz"])
        lowest = min(s["p_vaddr"] for s in loads) & ~0xFFF
        symbol = elf.get_section_by_name(".symtab").get_symbol_by_name("_dl_debug_state")[0]
        return (stub["p_offset"], stub["p_offset"] + stub["p_filesz"]), symbol["st_value"] - lowest


def build(arch: str, directory: Path) -> Programs:
    """The programs of `arch` in `directory` (searchable by every user the cases run as)."""
    lib = directory / "lib"
    lib.mkdir(parents=True)
    for d in (directory, lib):
        d.chmod(0o755)
    loader = lib / "ld.so"
    loader.write_bytes(LOADERS[arch].read_bytes())
    kernel, stub = directory / "hello", directory / "hello.patched"
    subprocess.run([*COMPILERS[arch], f"-Wl,--dynamic-linker={loader}", "-o", str(kernel), str(SRC / "hello.c")],
                   check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "relinterp", "patch", str(kernel), "--loader", str(loader), "-o",
                    str(stub)], check=True, capture_output=True)
    code, debug_state = stub_layout(stub)
    return Programs(loader, kernel, stub, code, debug_state)


def tracer(directory: Path) -> Path:
    out = directory / "difftrace"
    subprocess.run(["gcc", "-O2", "-o", str(out), str(SRC / "difftrace.c")], check=True, capture_output=True)
    return out


def parse(line: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in line.split())


def trace(difftrace: Path, program: Path, who: Identity, scratch: Path, breakpoint: int = 0) -> Side:
    report = scratch / "report"
    argv = [str(difftrace), "-o", str(report), "-t", str(RUN_SECONDS)]
    if who.uid:
        argv += ["-u", str(who.uid), "-g", str(who.gid), "-G", ",".join(map(str, who.groups or (who.gid,)))]
    if breakpoint:
        argv += ["-b", hex(breakpoint)]
    done = subprocess.run([*argv, "--", str(program)], capture_output=True, timeout=RUN_SECONDS * 4)
    line = report.read_text() if report.exists() else f"outcome=tracer-failed status={done.returncode}"
    report.unlink(missing_ok=True)
    return Side(parse(line), done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))


def run_case(case: Case, programs: Programs, difftrace: Path, scratch: Path) -> dict[str, Side]:
    """The case run by the kernel, by the stub, and by the stub with a debugger's breakpoint."""
    with loader_file(case, programs.loader, scratch / "backing"):
        return {
            "kernel": trace(difftrace, programs.kernel, case.identity, scratch),
            "stub": trace(difftrace, programs.stub, case.identity, scratch),
            "stub+debugger": trace(difftrace, programs.stub, case.identity, scratch, programs.debug_state),
        }


def workspace_ok(directory: Path) -> str | None:
    """Why users other than root could not reach `directory`, or None."""
    for d in (directory, *directory.parents):
        if not os.stat(d).st_mode & 0o001:
            return f"{d} is not searchable by others"
    return None
