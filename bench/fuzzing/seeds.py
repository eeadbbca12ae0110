"""The seeds: real programs built with the toolchains this machine has (musl and glibc,
C and C++, PIE and not, static, a shared library, every cross gcc present), copies
of some of them already patched by relinterp (and one patched, then stripped), and the
odd layouts of odd_seeds.py.

Built once into a cache directory; a seed whose compiler is missing is left out and
said so, so that the fuzzer runs on any machine with at least gcc.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .odd_seeds import odd_programs

HELLO_C = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'
LIB_C = "int shared_counter = 41;\nint shared_answer(void) { return shared_counter; }\n"
USER_C = ('#include <stdio.h>\nextern int shared_answer(void);\n'
          'int main(void) { printf("%d\\n", shared_answer()); return 0; }\n')
HELLO_CXX = ('#include <iostream>\n#include <string>\n#include <stdexcept>\n'
             'int main(int argc, char **argv) { try { if (argc > 5) throw std::runtime_error("x"); }\n'
             ' catch (const std::exception &e) { std::cerr << e.what(); }\n'
             ' std::cout << std::string(argv[0]) << std::endl; return 0; }\n')
RUNPATH = "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib:/opt/x/lib"
RPATH = "-Wl,--disable-new-dtags,-rpath,$ORIGIN/../lib"
CROSS = {  # the stub's architecture name: the cross gcc (glibc), and Debian's musl specs for it
    "aarch64": ("aarch64-linux-gnu-gcc", "/usr/lib/aarch64-linux-musl/musl-gcc.specs"),
    "i386": ("i686-linux-gnu-gcc", "/usr/lib/i386-linux-musl/musl-gcc.specs"),
    "arm": ("arm-linux-gnueabihf-gcc", "/usr/lib/arm-linux-musleabihf/musl-gcc.specs"),
    "riscv64": ("riscv64-linux-gnu-gcc", str(Path(__file__).resolve().parents[2] / "build" / "musl-riscv64"
                                             / "musl-gcc.specs")),
}


@dataclass(frozen=True)
class Seed:
    name: str
    data: bytes
    patched: bool  # relinterp patched it (its config block is there to mutate)


def _compile(out: Path, command: list[str], missing: list[str]) -> Path | None:
    if shutil.which(command[0]) is None:
        missing.append(f"{out.name} ({command[0]} not found)")
        return None
    if out.exists():
        return out
    result = subprocess.run([*command, "-o", str(out)], capture_output=True, text=True)
    if result.returncode != 0:
        missing.append(f"{out.name} ({command[0]} failed: {result.stderr.strip()[:200]})")
        return None
    return out


def _sources(work: Path) -> dict[str, Path]:
    files = {"hello.c": HELLO_C, "lib.c": LIB_C, "user.c": USER_C, "hello.cpp": HELLO_CXX}
    for name, text in files.items():
        (work / name).write_text(text)
    return {name: work / name for name in files}


def build_programs(work: Path, missing: list[str]) -> dict[str, Path]:
    """Every program this machine can build, by seed name."""
    work.mkdir(parents=True, exist_ok=True)
    src = _sources(work)
    hello, lib, user = str(src["hello.c"]), str(src["lib.c"]), str(src["user.c"])
    recipes: dict[str, list[str]] = {
        "musl-pie": ["musl-gcc", "-O2", "-fPIE", "-pie", hello],
        "musl-nopie": ["musl-gcc", "-O2", "-no-pie", "-fno-pie", hello],
        "musl-static": ["musl-gcc", "-O2", "-static", hello],
        "musl-static-pie": ["musl-gcc", "-O2", "-static-pie", "-Wl,--no-dynamic-linker", hello],
        "musl-lib.so": ["musl-gcc", "-O2", "-shared", "-fPIC", lib],
        "glibc-pie": ["gcc", "-O2", hello],
        "glibc-rpath": ["gcc", "-O2", "-no-pie", hello, RPATH],
        "glibc-c++": ["g++", "-O2", str(src["hello.cpp"]), RUNPATH],
    }
    for arch, (gcc, specs) in CROSS.items():
        recipes[f"glibc-{arch}"] = [gcc, "-O2", hello]
        if specs is not None and Path(specs).exists():
            recipes[f"musl-{arch}"] = [gcc, "-specs", specs, "-O2", hello]
    built = {name: _compile(work / name, command, missing) for name, command in recipes.items()}
    programs = {name: path for name, path in built.items() if path is not None}
    if "musl-lib.so" in programs:
        linked = _compile(work / "musl-runpath", ["musl-gcc", "-O2", user, f"-L{work}", "-l:musl-lib.so",
                                                  RUNPATH], missing)
        if linked is not None:
            programs["musl-runpath"] = linked
    return programs


def patched_copies(work: Path, programs: dict[str, Path], missing: list[str]) -> dict[str, Path]:
    """Copies patched by relinterp: with one relative candidate, with several and the
    system fallback, derived from RUNPATH, and one patched then stripped."""
    import relinterp

    recipes = {
        "musl-pie": {"loader_rel": "../lib/ld-musl.so"},
        "musl-runpath": {},  # derived from DT_RUNPATH
        "glibc-c++": {"loader_rel": ("../lib/ld.so", "lib/ld.so"), "loader": "/opt/ld.so", "fallback_system": True},
        "glibc-i386": {"loader_rel": "../lib/ld.so"},
        "musl-aarch64": {"loader_rel": "../lib/ld.so"},
        "glibc-arm": {"loader_rel": "../lib/ld.so", "fallback_system": True},
    }
    patched = {}
    for name, options in recipes.items():
        if name not in programs:
            continue
        out = work / f"{name}.patched"
        relinterp.patch(programs[name], output=out, **options)
        patched[f"{name}.patched"] = out
    if "musl-pie.patched" in patched and shutil.which("strip"):
        stripped = work / "musl-pie.patched.stripped"
        subprocess.run(["strip", "-o", str(stripped), str(patched["musl-pie.patched"])], check=True)
        patched[stripped.name] = stripped
    else:
        missing.append("musl-pie.patched.stripped (strip not found)")
    return patched


def build_seeds(work: Path) -> tuple[list[Seed], list[str]]:
    """The seeds, and what could not be built here (with why)."""
    missing: list[str] = []
    programs = build_programs(work, missing)
    patched = patched_copies(work, programs, missing)
    programs.update(odd_programs(work, programs, missing))
    seeds = [Seed(name, path.read_bytes(), False) for name, path in sorted(programs.items())]
    seeds += [Seed(name, path.read_bytes(), True) for name, path in sorted(patched.items())]
    return seeds, missing
