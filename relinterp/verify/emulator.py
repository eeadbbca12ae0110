"""How a program of a tree runs on this machine: natively, or emulated by qemu-user.

`verify --run` runs each program in an empty root (relinterp.verify.sandbox), which
holds no file of this machine.  A program for another machine needs its emulator there:
- `qemu-ARCH-static` (Debian: qemu-user-static), or a `qemu-ARCH` that is statically
  linked, found on PATH: the sandbox places that one file in the root and runs the
  program with it.  A dynamically linked qemu would need this machine's loader and
  libraries in the root, so it is not used;
- else binfmt_misc, where an interpreter for the program's format is registered with
  the F flag (the kernel opened it when it was registered, so it runs in any root): the
  program is run as it is.  binfmt_misc is only read here, never registered with.
Without either, EmulatorUnavailableError (exit status 4) names the package to install.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass

from ..elf.linked import LinkedObject, read_linked_object
from ..errors import EmulatorUnavailableError, RelinterpError

# (e_machine, ELF class, little-endian) -> qemu's name for the machine
QEMU_ARCH = {
    ("EM_X86_64", 64, True): "x86_64", ("EM_386", 32, True): "i386", ("EM_AARCH64", 64, True): "aarch64",
    ("EM_ARM", 32, True): "arm", ("EM_RISCV", 64, True): "riscv64", ("EM_PPC64", 64, True): "ppc64le",
    ("EM_PPC64", 64, False): "ppc64", ("EM_S390", 64, False): "s390x", ("EM_LOONGARCH", 64, True): "loongarch64",
}
# uname -m -> the machines its kernel runs without an emulator
NATIVE = {"x86_64": ("x86_64", "i386"), "i686": ("i386",), "aarch64": ("aarch64",), "armv7l": ("arm",),
          "riscv64": ("riscv64",), "ppc64le": ("ppc64le",), "ppc64": ("ppc64",), "s390x": ("s390x",),
          "loongarch64": ("loongarch64",)}
BINFMT = "/proc/sys/fs/binfmt_misc"
PACKAGE = "qemu-user-static"


@dataclass(frozen=True)
class Emulator:
    arch: str  # qemu's name for the program's machine
    file: str | None  # the static qemu the sandbox places in the root; None: the kernel runs the program
    how: str  # "native", the qemu file's path, or "binfmt_misc <entry>"


def emulators_for(programs: Iterable[LinkedObject]) -> dict[str, Emulator]:
    """program path -> how it runs here; EmulatorUnavailableError before anything runs
    when one of them cannot."""
    return {program.path: emulator_for(program) for program in programs}


def emulator_for(program: LinkedObject, machine: str | None = None) -> Emulator:
    arch = QEMU_ARCH.get(program.abi, f"{program.machine} ({program.elfclass}-bit)")
    if arch in NATIVE.get(machine or os.uname().machine, ()):
        return Emulator(arch, None, "native")
    qemu, dynamic = _static_qemu(arch)
    if qemu is not None:
        return Emulator(arch, qemu, qemu)
    entry = _binfmt_entry(program.path)
    if entry is not None:
        return Emulator(arch, None, f"binfmt_misc {entry}")
    why = f"; qemu-{arch} on PATH is dynamically linked and cannot run there" if dynamic else ""
    raise EmulatorUnavailableError(f"--run: no emulator for {arch} programs that can run in the empty root{why}: "
                                   f"install {PACKAGE} (apt-get install {PACKAGE})", program.path)


def _static_qemu(arch: str) -> tuple[str | None, bool]:
    """(a statically linked qemu for `arch` on PATH or None, whether a dynamic one is there)."""
    dynamic = False
    for name in (f"qemu-{arch}-static", f"qemu-{arch}"):
        found = shutil.which(name)
        if found is None:
            continue
        try:
            if read_linked_object(os.path.realpath(found)).interp is None:
                return os.path.realpath(found), dynamic
        except RelinterpError:
            continue
        dynamic = True
    return None, dynamic


def _binfmt_entry(path: str) -> str | None:
    """The enabled binfmt_misc entry with the F flag that would run the file at `path`."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(128)
        names = sorted(os.listdir(BINFMT))
    except OSError:
        return None
    for name in names:
        fields = _binfmt_fields(os.path.join(BINFMT, name))
        if "enabled" in fields and "F" in fields.get("flags", "") and _matches(head, fields):
            return name
    return None


def _binfmt_fields(path: str) -> dict[str, str]:
    """An entry's file: "enabled", "interpreter PATH", "flags: F", "offset N", "magic HEX", "mask HEX"."""
    try:
        with open(path) as stream:
            lines = stream.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    return {line.split(None, 1)[0].rstrip(":"): (line.split(None, 1) + [""])[1] for line in lines if line.strip()}


def _matches(head: bytes, fields: dict[str, str]) -> bool:
    try:
        offset, magic = int(fields.get("offset", "0")), bytes.fromhex(fields["magic"])
        mask = bytes.fromhex(fields["mask"]) if "mask" in fields else b"\xff" * len(magic)
    except (KeyError, ValueError):
        return False
    part = head[offset:offset + len(magic)]
    return len(part) == len(magic) and all(b & m == want & m for b, want, m in zip(part, magic, mask))
