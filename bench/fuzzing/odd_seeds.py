"""Seeds for what fieldwork found readers and writers got wrong: a string table across
two loadable segments (Debian 12's patchelf growing a non-PIE program's search list), an
interpreter path starting with NUL, control characters in the dynamic strings, and a
program header table overlapping the ELF header.  Each is a real program built here,
then changed with the fuzzer's own struct-only reader (layout.py); one that cannot be
made on this machine is left out and said so.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

from .layout import PT_INTERP, PT_LOAD, Layout

DEBIAN_PATCHELF = "/usr/bin/patchelf"  # Debian 12: 0.14.3, which leaves .dynstr across two PT_LOADs
CONTROL_RUNPATH = "$ORIGIN/\x1b[31m:/opt/x\npatched: yes\x07"
PT_PHDR, PT_GNU_RELRO = 6, 0x6474E552


def odd_programs(work: Path, programs: dict[str, Path], missing: list[str]) -> dict[str, Path]:
    """The odd seeds that can be made here, by name."""
    made = {}
    for name, make in (("glibc-dynstr-across-segments", _dynstr_across_segments),
                       ("musl-nul-interp", _nul_interp), ("musl-control-strings", _control_strings),
                       ("musl-phdrs-over-ehdr", _phdrs_over_ehdr)):
        out = work / name
        why = make(out, work, programs)
        if why is None:
            made[name] = out
        else:
            missing.append(f"{name} ({why})")
    return made


def _run(command: list) -> str | None:
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True)
    return None if result.returncode == 0 else f"{command[0]} failed: {result.stderr.strip()[:200]}"


def _dynstr_across_segments(out: Path, work: Path, programs: dict[str, Path]) -> str | None:
    if "glibc-rpath" not in programs or not Path(DEBIAN_PATCHELF).exists():
        return f"needs gcc and {DEBIAN_PATCHELF}"
    for length in range(2500, 6000, 100):  # the page patchelf adds holds .dynstr but for some lengths
        shutil.copy2(programs["glibc-rpath"], out)  # non-PIE
        why = _run([DEBIAN_PATCHELF, "--set-rpath", "$ORIGIN/../lib:/" + "x" * length, out])
        if why is not None:
            return why
        layout = Layout(out.read_bytes())
        loads = [layout.segment(at) for at in layout.segments_of(PT_LOAD)]
        dynstr = _dynstr_range(layout)
        if dynstr is not None and any(s["p_vaddr"] < dynstr[0] < s["p_vaddr"] + s["p_filesz"] < dynstr[1]
                                      for s in loads):
            return None
    return "this patchelf leaves .dynstr in one segment"


def _dynstr_range(layout: Layout) -> tuple[int, int] | None:
    fields = [layout.dynamic_fields(at) for at in layout.dynamic_entries()]
    values = {layout.read(t): layout.read(v) for t, v in fields}
    return (values[5], values[5] + values[10]) if 5 in values and 10 in values else None  # DT_STRTAB, DT_STRSZ


def _nul_interp(out: Path, work: Path, programs: dict[str, Path]) -> str | None:
    if "musl-pie" not in programs:
        return "needs musl-gcc"
    data = bytearray(programs["musl-pie"].read_bytes())
    layout = Layout(data)
    data[layout.segment(layout.segments_of(PT_INTERP)[0])["p_offset"]] = 0
    out.write_bytes(data)
    return None


def _control_strings(out: Path, work: Path, programs: dict[str, Path]) -> str | None:
    if shutil.which("musl-gcc") is None:
        return "needs musl-gcc"
    source = work / "hello.c"
    return _run(["musl-gcc", "-O2", "-o", out, source, "-Wl,--enable-new-dtags", "-Xlinker", "-rpath",
                 "-Xlinker", CONTROL_RUNPATH])


def _phdrs_over_ehdr(out: Path, work: Path, programs: dict[str, Path]) -> str | None:
    """The table moved 8 bytes back, into the ELF header (its first entry's type and flags
    are then e_phnum ... e_shstrndx), PT_GNU_RELRO dropped to make room, PT_PHDR following."""
    if "musl-pie" not in programs:
        return "needs musl-gcc"
    data = bytearray(programs["musl-pie"].read_bytes())
    layout = Layout(data)
    if layout.bits != 64 or layout.header("e_phoff") != 64:
        return "needs a 64-bit program with its program headers right after the ELF header"
    entries = [bytes(data[at : at + 56]) for at in layout.phdrs()]
    kept = [e for e in entries if struct.unpack_from("<I", e)[0] != PT_GNU_RELRO]
    if len(kept) != len(entries) - 1:
        return "needs a PT_GNU_RELRO entry to drop"
    count = len(entries)
    for i, entry in enumerate(kept):
        if struct.unpack_from("<I", entry)[0] == PT_PHDR:
            kept[i] = entry[:8] + struct.pack("<QQQQQ", 0x38, 0x38, 0x38, 56 * count, 56 * count) + entry[48:]
    data[0x40 : 0x38 + 56 * count] = bytes(48) + b"".join(kept)
    Layout(data).write(next(f for f in Layout(data).header_fields() if f.name == "e_phoff"), 0x38)
    out.write_bytes(data)
    return None
