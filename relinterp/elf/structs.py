"""The ELF records relinterp reads and writes (gABI: Elf_Ehdr, Elf_Phdr, Elf_Shdr,
Elf_Dyn), as standard-library `struct` layouts built once per class and byte order,
and the names of the enumerated values they hold.

Reading a header through these costs microseconds: no record objects per field, no
import of a parsing library.  Values are named as pyelftools names them ('EM_X86_64',
'ET_DYN', 'PT_LOAD'), which is what the command line prints; a machine or segment type
outside the tables here is named through pyelftools' full tables, imported only then.
"""

from __future__ import annotations

import struct
from collections import namedtuple
from functools import lru_cache

ELF_MAGIC = b"\x7fELF"
EI_NIDENT = 16
ELFCLASS = {1: 32, 2: 64}  # e_ident[EI_CLASS]
ELFDATA = {1: True, 2: False}  # e_ident[EI_DATA]: little-endian?

Ehdr = namedtuple("Ehdr", "e_ident e_type e_machine e_version e_entry e_phoff e_shoff e_flags e_ehsize "
                          "e_phentsize e_phnum e_shentsize e_shnum e_shstrndx")
Phdr = namedtuple("Phdr", "p_type p_flags p_offset p_vaddr p_paddr p_filesz p_memsz p_align")
Shdr = namedtuple("Shdr", "sh_name sh_type sh_flags sh_addr sh_offset sh_size sh_link sh_info sh_addralign "
                          "sh_entsize")
Dyn = namedtuple("Dyn", "d_tag d_val")
Sym = namedtuple("Sym", "st_name st_value st_size st_info st_other st_shndx")

# (record, field order in the file, struct format) per class; ELFCLASS32 puts p_flags
# after p_memsz, ELFCLASS64 after p_type (for alignment).
_FORMATS = {
    32: {
        "ehdr": (Ehdr, Ehdr._fields, "16sHHIIIIIHHHHHH"),
        "phdr": (Phdr, ("p_type", "p_offset", "p_vaddr", "p_paddr", "p_filesz", "p_memsz", "p_flags", "p_align"),
                 "IIIIIIII"),
        "shdr": (Shdr, Shdr._fields, "IIIIIIIIII"),
        "dyn": (Dyn, Dyn._fields, "iI"),
        "sym": (Sym, Sym._fields, "IIIBBH"),
    },
    64: {
        "ehdr": (Ehdr, Ehdr._fields, "16sHHIQQQIHHHHHH"),
        "phdr": (Phdr, Phdr._fields, "IIQQQQQQ"),
        "shdr": (Shdr, Shdr._fields, "IIQQQQIIQQ"),
        "dyn": (Dyn, Dyn._fields, "qQ"),
        "sym": (Sym, ("st_name", "st_info", "st_other", "st_shndx", "st_value", "st_size"), "IBBHQQ"),
    },
}


class Layout:
    """One record type in one class and byte order: parse bytes to a named tuple, build
    bytes from one."""

    def __init__(self, record, order: tuple[str, ...], fmt: str, little_endian: bool) -> None:
        self.record = record
        self.struct = struct.Struct(("<" if little_endian else ">") + fmt)
        self.size = self.struct.size
        self._from_file = tuple(order.index(name) for name in record._fields)
        self._to_file = tuple(record._fields.index(name) for name in order)

    def parse(self, data: bytes, offset: int = 0):
        raw = self.struct.unpack_from(data, offset)
        return self.record._make([raw[i] for i in self._from_file])

    def parse_all(self, data: bytes) -> list:
        """Every whole record in `data`, in order."""
        usable = memoryview(data)[: len(data) - len(data) % self.size]
        return [self.record._make([raw[i] for i in self._from_file]) for raw in self.struct.iter_unpack(usable)]

    def build(self, record) -> bytes:
        return self.struct.pack(*[record[i] for i in self._to_file])


class ElfLayouts:
    """The records of one ELF class and byte order."""

    def __init__(self, elfclass: int, little_endian: bool) -> None:
        self.elfclass, self.little_endian = elfclass, little_endian
        formats = _FORMATS[elfclass]
        self.ehdr, self.phdr, self.shdr, self.dyn, self.sym = (Layout(*formats[k], little_endian)
                                                               for k in ("ehdr", "phdr", "shdr", "dyn", "sym"))


@lru_cache(maxsize=None)
def layouts(elfclass: int, little_endian: bool) -> ElfLayouts:
    return ElfLayouts(elfclass, little_endian)


# ------------------------------------------------------------------ value names
# Section types and flags, program header flags, dynamic tags: the values relinterp uses.
SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_NOBITS, SHT_DYNSYM = 0, 1, 2, 3, 8, 11
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHN_LORESERVE = 0xFF00  # section indices from here on are reserved (extended numbering)
STB_LOCAL, STB_GLOBAL, STT_NOTYPE, STT_FUNC = 0, 1, 0, 2  # st_info = bind << 4 | type
PT_LOAD, PT_INTERP = 1, 3
PF_X, PF_W, PF_R = 0x1, 0x2, 0x4
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_RPATH = 0, 1, 5, 10, 14, 15
DT_RUNPATH, DT_RELRSZ, DT_RELR, DT_FLAGS_1 = 29, 35, 36, 0x6FFFFFFB
DF_1_NODEFLIB = 0x00000800  # ld -z nodefaultlib: glibc skips ld.so.cache and its system directories
DF_1_PIE = 0x08000000

ELF_TYPES = {0: "ET_NONE", 1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE", 0xFF00: "ET_LOPROC",
             0xFFFF: "ET_HIPROC"}
SEGMENT_TYPES = {0: "PT_NULL", 1: "PT_LOAD", 2: "PT_DYNAMIC", 3: "PT_INTERP", 4: "PT_NOTE", 5: "PT_SHLIB",
                 6: "PT_PHDR", 7: "PT_TLS", 0x60000000: "PT_LOOS", 0x6FFFFFFF: "PT_HIOS",
                 0x6474E550: "PT_GNU_EH_FRAME", 0x6474E551: "PT_GNU_STACK", 0x6474E552: "PT_GNU_RELRO",
                 0x6474E553: "PT_GNU_PROPERTY"}
PROCESSOR_SEGMENT_TYPES = {  # p_type values from PT_LOPROC on mean what the machine says
    "EM_ARM": {0x70000000: "PT_ARM_ARCHEXT", 0x70000001: "PT_ARM_EXIDX"},
    "EM_AARCH64": {0x70000000: "PT_AARCH64_ARCHEXT", 0x70000001: "PT_AARCH64_UNWIND"},
    "EM_MIPS": {0x70000003: "PT_MIPS_ABIFLAGS"},
    "EM_RISCV": {0x70000003: "PT_RISCV_ATTRIBUTES"},
}
PT_NAMES = {name: number for number, name in SEGMENT_TYPES.items()}
# The machines relinterp has stubs for or names in its refusals; the rest come from pyelftools.
MACHINES = {2: "EM_SPARC", 3: "EM_386", 8: "EM_MIPS", 20: "EM_PPC", 21: "EM_PPC64", 22: "EM_S390",
            40: "EM_ARM", 43: "EM_SPARCV9", 62: "EM_X86_64", 183: "EM_AARCH64", 243: "EM_RISCV",
            258: "EM_LOONGARCH"}
MACHINE_NUMBERS = {name: number for number, name in MACHINES.items()}


def align_up(value: int, alignment: int) -> int:
    """`value` rounded up to a multiple of `alignment`."""
    return -(-value // alignment) * alignment


def machine_name(number: int) -> str | int:
    """pyelftools' name for e_machine `number`, or the number when it has none."""
    if number in MACHINES:
        return MACHINES[number]
    from elftools.elf.enums import ENUM_E_MACHINE  # rare machines only: the table costs 20 ms to import

    return {v: k for k, v in ENUM_E_MACHINE.items()}.get(number, number)


def machine_number(name: str | int) -> int:
    if isinstance(name, int):
        return name
    if name in MACHINE_NUMBERS:
        return MACHINE_NUMBERS[name]
    from elftools.elf.enums import ENUM_E_MACHINE

    return ENUM_E_MACHINE[name]


def elf_type_name(number: int) -> str | int:
    return ELF_TYPES.get(number, number)


def segment_type_name(number: int, machine: str | int) -> str | int:
    return SEGMENT_TYPES.get(number) or PROCESSOR_SEGMENT_TYPES.get(machine, {}).get(number, number)

