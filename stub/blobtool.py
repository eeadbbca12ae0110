"""Turn a linked stub into the flat blob the patcher appends, and refuse unsafe ones.

Used by CMakeLists.txt:

    blobtool.py extract STUB.ELF --arch A --cc CC --out BLOB --meta META.json
    blobtool.py install --dest relinterp/_stubs META.json...

The stub runs before anything is relocated, so the blob must work at any address with
no help: every relocation the linker resolved must be PC-relative, and there must be no
writable data, no GOT and no PLT.  `extract` fails the build otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

from elftools.elf.descriptions import describe_reloc_type
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

STUB_DIR = Path(__file__).resolve().parent
PROJECT_DIR = STUB_DIR.parent
MANIFEST_VERSION = 1

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
}
# What to do about the relocations that a missing build option leaves.
HINTS = {
    "R_AARCH64_ADR_PREL_PG_HI21": "page-relative, and the blob is not page-aligned in the "
                                  "program: build with -mcmodel=tiny",
    "R_RISCV_RELAX": "the linker may turn PC-relative addressing gp-relative: build with -mno-relax",
    "R_RISCV_NONE": "left by linker relaxation, which may make addressing gp-relative: "
                    "build with -mno-relax",
}
# RISC-V psABI relocation numbers, which pyelftools does not name.
RISCV_RELOCS = {
    0: "R_RISCV_NONE", 1: "R_RISCV_32", 2: "R_RISCV_64", 16: "R_RISCV_BRANCH", 17: "R_RISCV_JAL",
    18: "R_RISCV_CALL", 19: "R_RISCV_CALL_PLT", 20: "R_RISCV_GOT_HI20", 23: "R_RISCV_PCREL_HI20",
    24: "R_RISCV_PCREL_LO12_I", 25: "R_RISCV_PCREL_LO12_S", 26: "R_RISCV_HI20", 27: "R_RISCV_LO12_I",
    28: "R_RISCV_LO12_S", 43: "R_RISCV_ALIGN", 44: "R_RISCV_RVC_BRANCH", 45: "R_RISCV_RVC_JUMP",
    51: "R_RISCV_RELAX", 57: "R_RISCV_32_PCREL",
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


def reloc_name(elf: ELFFile, kind: int) -> str:
    if elf["e_machine"] == "EM_RISCV":
        return RISCV_RELOCS.get(kind, f"R_RISCV_{kind}")
    return describe_reloc_type(kind, elf)


def check_image(elf: ELFFile) -> None:
    machine = elf["e_machine"]
    allowed = PC_RELATIVE.get(machine)
    if allowed is None:
        raise UnsafeStub(f"no relocation rules for {machine}")
    for section in elf.iter_sections():
        if section["sh_flags"] & 0x2 and section.name != IMAGE_SECTION and section["sh_size"]:
            raise UnsafeStub(f"section {section.name} ({section['sh_size']} bytes): the stub must "
                             "have no writable data, GOT or PLT")
        if isinstance(section, RelocationSection):
            for reloc in section.iter_relocations():
                kind = reloc_name(elf, reloc["r_info_type"])
                if kind not in allowed:
                    hint = HINTS.get(kind, "")
                    raise UnsafeStub(f"{section.name}: relocation {kind} at {reloc['r_offset']:#x} "
                                     "is not PC-relative" + (f" ({hint})" if hint else ""))


def symbol_value(elf: ELFFile, name: str) -> int:
    symbols = elf.get_section_by_name(".symtab").get_symbol_by_name(name)
    if not symbols:
        raise UnsafeStub(f"symbol {name} missing")
    return symbols[0]["st_value"]


def extract(args: argparse.Namespace) -> None:
    with open(args.elf, "rb") as stream:
        elf = ELFFile(stream)
        check_image(elf)
        text = elf.get_section_by_name(IMAGE_SECTION)
        blob = text.data()
        entry = symbol_value(elf, "_start")
        config = symbol_value(elf, "relinterp_config")
        if text["sh_addr"] != 0 or entry != elf["e_entry"] or config != len(blob):
            raise UnsafeStub("layout: the image must start at 0 and end at relinterp_config")
        if symbol_value(elf, "relinterp_debug_state") != config - DEBUG_STATE_SIZE:
            raise UnsafeStub(f"layout: relinterp_debug_state must be the last {DEBUG_STATE_SIZE} bytes of the code")
        meta = {
            "arch": args.arch,
            "machine": elf["e_machine"],
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


def install(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(PROJECT_DIR))
    from relinterp.elf.record import CONFIG_SCHEMA

    dest = Path(args.dest)
    stubs = {}
    for meta_path in args.meta:
        meta = json.loads(Path(meta_path).read_text())
        arch = meta.pop("arch")
        meta["file"] = f"{arch}.bin"
        shutil.copyfile(Path(meta_path).with_suffix(".bin"), dest / meta["file"])
        stubs[arch] = meta
    manifest = {"manifest_version": MANIFEST_VERSION, "config_schema": CONFIG_SCHEMA, "stubs": stubs}
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
        print(f"{args.elf}: unsafe stub: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
