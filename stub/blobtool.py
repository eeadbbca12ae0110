"""Turn a linked stub into the flat blob the patcher appends, and refuse unsafe ones.

Used by CMakeLists.txt:

    blobtool.py extract STUB.ELF --arch A --cc CC --out BLOB --meta META.json
    blobtool.py install --dest relinterp/_stubs META.json...

The stub runs before anything is relocated, so the blob must work at any address with
no help: every relocation the linker resolved must be PC-relative, and there must be no
writable data, no GOT and no PLT.  `extract` fails the build otherwise.

Standard library only: CMake runs this with whatever Python it finds first, usually the
system's, so it reads the few ELF structures it needs (header, sections, symbols,
relocations of a small static file) itself.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import struct
import subprocess
import sys
from typing import NamedTuple
from pathlib import Path

STUB_DIR = Path(__file__).resolve().parent
PROJECT_DIR = STUB_DIR.parent
MANIFEST_VERSION = 1

# Relocation numbers of each machine's psABI, named as binutils names them: the ones a
# stub may hold and the ones a missing build option leaves (named in the hints below).
RELOCATIONS = {
    "EM_X86_64": {1: "R_X86_64_64", 2: "R_X86_64_PC32", 4: "R_X86_64_PLT32", 9: "R_X86_64_GOTPCREL",
                  10: "R_X86_64_32", 11: "R_X86_64_32S", 24: "R_X86_64_PC64", 41: "R_X86_64_GOTPCRELX",
                  42: "R_X86_64_REX_GOTPCRELX"},
    "EM_386": {1: "R_386_32", 2: "R_386_PC32", 3: "R_386_GOT32", 4: "R_386_PLT32", 9: "R_386_GOTOFF",
               10: "R_386_GOTPC", 43: "R_386_GOT32X"},
    "EM_AARCH64": {257: "R_AARCH64_ABS64", 258: "R_AARCH64_ABS32", 260: "R_AARCH64_PREL64",
                   261: "R_AARCH64_PREL32", 273: "R_AARCH64_LD_PREL_LO19", 274: "R_AARCH64_ADR_PREL_LO21",
                   275: "R_AARCH64_ADR_PREL_PG_HI21", 277: "R_AARCH64_ADD_ABS_LO12_NC",
                   279: "R_AARCH64_TSTBR14", 280: "R_AARCH64_CONDBR19", 282: "R_AARCH64_JUMP26",
                   283: "R_AARCH64_CALL26", 311: "R_AARCH64_ADR_GOT_PAGE"},
    "EM_ARM": {2: "R_ARM_ABS32", 3: "R_ARM_REL32", 10: "R_ARM_THM_CALL", 28: "R_ARM_CALL",
               29: "R_ARM_JUMP24", 30: "R_ARM_THM_JUMP24", 43: "R_ARM_MOVW_ABS_NC", 44: "R_ARM_MOVT_ABS",
               45: "R_ARM_MOVW_PREL_NC", 46: "R_ARM_MOVT_PREL", 49: "R_ARM_THM_MOVW_PREL_NC",
               50: "R_ARM_THM_MOVT_PREL", 51: "R_ARM_THM_JUMP19", 102: "R_ARM_THM_JUMP11",
               103: "R_ARM_THM_JUMP8"},
    "EM_RISCV": {0: "R_RISCV_NONE", 1: "R_RISCV_32", 2: "R_RISCV_64", 16: "R_RISCV_BRANCH",
                 17: "R_RISCV_JAL", 18: "R_RISCV_CALL", 19: "R_RISCV_CALL_PLT", 20: "R_RISCV_GOT_HI20",
                 23: "R_RISCV_PCREL_HI20", 24: "R_RISCV_PCREL_LO12_I", 25: "R_RISCV_PCREL_LO12_S",
                 26: "R_RISCV_HI20", 27: "R_RISCV_LO12_I", 28: "R_RISCV_LO12_S", 43: "R_RISCV_ALIGN",
                 44: "R_RISCV_RVC_BRANCH", 45: "R_RISCV_RVC_JUMP", 51: "R_RISCV_RELAX",
                 57: "R_RISCV_32_PCREL"},
    "EM_PPC64": {0: "R_PPC64_NONE", 1: "R_PPC64_ADDR32", 2: "R_PPC64_ADDR24", 4: "R_PPC64_ADDR16_LO",
                 6: "R_PPC64_ADDR16_HA", 10: "R_PPC64_REL24", 11: "R_PPC64_REL14", 12: "R_PPC64_REL14_BRTAKEN",
                 13: "R_PPC64_REL14_BRNTAKEN", 26: "R_PPC64_REL32", 38: "R_PPC64_ADDR64", 44: "R_PPC64_REL64",
                 48: "R_PPC64_TOC16_LO", 50: "R_PPC64_TOC16_HA", 51: "R_PPC64_TOC", 59: "R_PPC64_GOT16_LO_DS",
                 64: "R_PPC64_TOC16_LO_DS", 118: "R_PPC64_ENTRY", 249: "R_PPC64_REL16", 250: "R_PPC64_REL16_LO",
                 251: "R_PPC64_REL16_HI", 252: "R_PPC64_REL16_HA"},
    "EM_S390": {0: "R_390_NONE", 4: "R_390_32", 5: "R_390_PC32", 8: "R_390_PLT32", 13: "R_390_GOTOFF32",
                14: "R_390_GOTPC", 16: "R_390_PC16", 17: "R_390_PC16DBL", 18: "R_390_PLT16DBL",
                19: "R_390_PC32DBL", 20: "R_390_PLT32DBL", 21: "R_390_GOTPCDBL", 22: "R_390_64",
                23: "R_390_PC64", 26: "R_390_GOTENT", 62: "R_390_PC12DBL", 63: "R_390_PLT12DBL",
                64: "R_390_PC24DBL", 65: "R_390_PLT24DBL"},
}
MACHINES = {62: "EM_X86_64", 3: "EM_386", 183: "EM_AARCH64", 40: "EM_ARM", 243: "EM_RISCV", 21: "EM_PPC64",
            22: "EM_S390"}
# Relocations that only encode a distance within the blob, per machine.
PC_RELATIVE = {
    "EM_X86_64": {"R_X86_64_PC32", "R_X86_64_PLT32", "R_X86_64_PC64"},
    # GOTPC is the GOT's distance from the PC, GOTOFF a symbol's distance from the GOT:
    # together a distance within the blob.  The GOT's contents are never read (GOT32 would).
    "EM_386": {"R_386_PC32", "R_386_PLT32", "R_386_GOTPC", "R_386_GOTOFF"},
    "EM_AARCH64": {"R_AARCH64_ADR_PREL_LO21", "R_AARCH64_LD_PREL_LO19", "R_AARCH64_CALL26",
                   "R_AARCH64_JUMP26", "R_AARCH64_CONDBR19", "R_AARCH64_TSTBR14",
                   "R_AARCH64_PREL32", "R_AARCH64_PREL64"},
    "EM_ARM": {"R_ARM_REL32", "R_ARM_CALL", "R_ARM_JUMP24", "R_ARM_THM_CALL", "R_ARM_THM_JUMP24",
               "R_ARM_THM_JUMP19", "R_ARM_THM_JUMP11", "R_ARM_THM_JUMP8", "R_ARM_MOVW_PREL_NC",
               "R_ARM_MOVT_PREL", "R_ARM_THM_MOVW_PREL_NC", "R_ARM_THM_MOVT_PREL"},
    "EM_RISCV": {"R_RISCV_BRANCH", "R_RISCV_JAL", "R_RISCV_CALL", "R_RISCV_CALL_PLT",
                 "R_RISCV_PCREL_HI20", "R_RISCV_PCREL_LO12_I", "R_RISCV_PCREL_LO12_S",
                 "R_RISCV_RVC_BRANCH", "R_RISCV_RVC_JUMP", "R_RISCV_32_PCREL"},
    # TOC16 is a distance from the TOC base, which the entry computes from its own
    # address (REL16: from the PC): together a distance within the blob.  ENTRY only
    # marks a global entry point's TOC set-up, which the linker may optimise.
    "EM_PPC64": {"R_PPC64_REL24", "R_PPC64_REL14", "R_PPC64_REL14_BRTAKEN", "R_PPC64_REL14_BRNTAKEN",
                 "R_PPC64_REL32", "R_PPC64_REL64", "R_PPC64_REL16", "R_PPC64_REL16_LO", "R_PPC64_REL16_HI",
                 "R_PPC64_REL16_HA", "R_PPC64_TOC16_LO", "R_PPC64_TOC16_HA", "R_PPC64_TOC16_LO_DS",
                 "R_PPC64_ENTRY"},
    "EM_S390": {"R_390_PC16", "R_390_PC16DBL", "R_390_PLT16DBL", "R_390_PC32", "R_390_PC32DBL",
                "R_390_PLT32DBL", "R_390_PC64", "R_390_PC12DBL", "R_390_PLT12DBL", "R_390_PC24DBL",
                "R_390_PLT24DBL"},
}
# What to do about the relocations that a missing build option leaves.
HINTS = {
    "R_AARCH64_ADR_PREL_PG_HI21": "page-relative, and the blob is not page-aligned in the "
                                  "program: build with -mcmodel=tiny",
    "R_RISCV_RELAX": "the linker may turn PC-relative addressing gp-relative: build with -mno-relax",
    "R_RISCV_NONE": "left by linker relaxation, which may make addressing gp-relative: "
                    "build with -mno-relax",
}
# The stub's own `_dl_debug_state` (debug_hook.h): the last this many bytes of its code.
DEBUG_STATE_SIZE = 16
# The only allocated section the blob may have (code and constants, see stub.ld).
IMAGE_SECTION = ".text"


class UnsafeStub(Exception):
    pass


def source_files(arch: str) -> list[Path]:
    """Every file the blob for `arch` is built from: its sources and the recipe."""
    files = [p for p in STUB_DIR.iterdir() if p.is_file() and p.suffix in {".c", ".h", ".ld", ".py"}]
    files += [p for p in (STUB_DIR / "arch" / arch).iterdir() if p.is_file()]
    files.append(PROJECT_DIR / "CMakeLists.txt")
    return sorted(files)


def source_sha256(arch: str) -> str:
    digest = hashlib.sha256()
    for path in source_files(arch):
        digest.update(path.relative_to(PROJECT_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def tool_version(*command: str) -> str:
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return out.splitlines()[0].strip()


def toolchain(cc: str) -> dict[str, str]:
    ld = subprocess.run([cc, "-print-prog-name=ld"], check=True, capture_output=True, text=True)
    return {"compiler": tool_version(cc, "--version"), "linker": tool_version(ld.stdout.strip(), "--version")}


SHF_ALLOC = 0x2
SHT_SYMTAB, SHT_RELA, SHT_REL = 2, 4, 9


class Section(NamedTuple):
    name: str
    kind: int
    flags: int
    addr: int
    offset: int
    size: int
    entsize: int


class StubImage:
    """The linked stub as far as the checks need it: header, sections, symbols, relocations
    (ELF gABI: "ELF Header", "Sections", "Symbol Table", "Relocation")."""

    def __init__(self, data: bytes):
        if data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
            raise UnsafeStub("not an ELF file of a known class and byte order")
        self.data = data
        self.elfclass = 32 if data[4] == 1 else 64
        self.little_endian = data[5] == 1
        self.order = "<" if self.little_endian else ">"
        word = "I" if self.elfclass == 32 else "Q"
        machine, _, self.entry, _, shoff = struct.unpack_from(self.order + "HI" + word * 3, data, 18)
        self.machine = MACHINES.get(machine, f"EM_{machine}")
        shentsize, shnum, shstrndx = struct.unpack_from(self.order + "3H", data, 58 if self.elfclass == 64 else 46)
        header = self.order + ("IIIIIIIIII" if self.elfclass == 32 else "IIQQQQIIQQ")
        raw = [struct.unpack_from(header, data, shoff + i * shentsize) for i in range(shnum)]
        names = raw[shstrndx][4]
        # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info, sh_addralign, sh_entsize
        self.sections = [Section(self.string(names + r[0]), r[1], r[2], r[3], r[4], r[5], r[9]) for r in raw]
        self.links = [r[6] for r in raw]

    def string(self, offset: int) -> str:
        return self.data[offset:self.data.index(b"\0", offset)].decode()

    def section(self, name: str) -> Section:
        found = [s for s in self.sections if s.name == name]
        if not found:
            raise UnsafeStub(f"section {name} missing")
        return found[0]

    def contents(self, section: Section) -> bytes:
        return self.data[section.offset:section.offset + section.size]

    def symbol_value(self, name: str) -> int:
        index = self.sections.index(self.section(".symtab"))
        symtab, strtab = self.sections[index], self.sections[self.links[index]]
        # 32-bit: st_name, st_value, ...; 64-bit: st_name, st_info, st_other, st_shndx, st_value.
        layout = self.order + ("II" if self.elfclass == 32 else "I4xQ")
        for at in range(symtab.offset, symtab.offset + symtab.size, symtab.entsize):
            name_offset, value = struct.unpack_from(layout, self.data, at)
            if self.string(strtab.offset + name_offset) == name:
                return value
        raise UnsafeStub(f"symbol {name} missing")

    def relocations(self, section: Section):
        """(r_offset, type name) of each entry of a SHT_REL or SHT_RELA section."""
        layout = self.order + ("II" if self.elfclass == 32 else "QQ")
        names = RELOCATIONS.get(self.machine, {})
        for at in range(section.offset, section.offset + section.size, section.entsize):
            offset, info = struct.unpack_from(layout, self.data, at)
            kind = info & 0xFF if self.elfclass == 32 else info & 0xFFFFFFFF
            yield offset, names.get(kind, f"relocation type {kind}")


def check_image(elf: StubImage) -> None:
    allowed = PC_RELATIVE.get(elf.machine)
    if allowed is None:
        raise UnsafeStub(f"no relocation rules for {elf.machine}")
    for section in elf.sections:
        if section.flags & SHF_ALLOC and section.name != IMAGE_SECTION and section.size:
            raise UnsafeStub(f"section {section.name} ({section.size} bytes): the stub must "
                             "have no writable data, GOT or PLT")
        if section.kind in (SHT_REL, SHT_RELA):
            for offset, kind in elf.relocations(section):
                if kind not in allowed:
                    hint = HINTS.get(kind, "")
                    raise UnsafeStub(f"{section.name}: relocation {kind} at {offset:#x} "
                                     "is not PC-relative" + (f" ({hint})" if hint else ""))


def extract(args: argparse.Namespace) -> None:
    elf = StubImage(Path(args.elf).read_bytes())
    check_image(elf)
    text = elf.section(IMAGE_SECTION)
    blob = elf.contents(text)
    entry = elf.symbol_value("_start")
    config = elf.symbol_value("relinterp_config")
    if text.addr != 0 or entry != elf.entry or config != len(blob):
        raise UnsafeStub("layout: the image must start at 0 and end at relinterp_config")
    if elf.symbol_value("relinterp_debug_state") != config - DEBUG_STATE_SIZE:
        raise UnsafeStub(f"layout: relinterp_debug_state must be the last {DEBUG_STATE_SIZE} bytes of the code")
    meta = {
        "arch": args.arch,
        "machine": elf.machine,
        "elfclass": elf.elfclass,
        "byteorder": "little" if elf.little_endian else "big",
        "sha256": hashlib.sha256(blob).hexdigest(),
        "size": len(blob),
        "entry_offset": entry,
        "config_offset": config,
        **toolchain(args.cc),
        "source_sha256": source_sha256(args.arch),
    }
    Path(args.out).write_bytes(blob)
    Path(args.meta).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def config_schema() -> int:
    """The config block's schema number, from the C definition the blob was built with."""
    found = re.search(r"^#define RELINTERP_CONFIG_SCHEMA (\d+)$", (STUB_DIR / "config.h").read_text(), re.M)
    if not found:
        raise UnsafeStub(f"{STUB_DIR / 'config.h'}: no RELINTERP_CONFIG_SCHEMA")
    return int(found.group(1))


def install(args: argparse.Namespace) -> None:
    dest = Path(args.dest)
    stubs = {}
    for meta_path in args.meta:
        meta = json.loads(Path(meta_path).read_text())
        arch = meta.pop("arch")
        meta["file"] = f"{arch}.bin"
        shutil.copyfile(Path(meta_path).with_suffix(".bin"), dest / meta["file"])
        stubs[arch] = meta
    manifest = {"manifest_version": MANIFEST_VERSION, "config_schema": config_schema(), "stubs": stubs}
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("extract")
    p.add_argument("elf")
    p.add_argument("--arch", required=True)
    p.add_argument("--cc", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--meta", required=True)
    p.set_defaults(run=extract)
    p = commands.add_parser("install")
    p.add_argument("--dest", required=True)
    p.add_argument("meta", nargs="+")
    p.set_defaults(run=install)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except UnsafeStub as error:
        print(f"{getattr(args, 'elf', None) or args.dest}: unsafe stub: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
