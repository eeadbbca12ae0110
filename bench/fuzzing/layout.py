"""Where the fields of an ELF file are, read with nothing but `struct`: the fuzzer must
not see the file through the reader it is testing.  Tolerant: whatever cannot be found
(a header too short, a table outside the file) is simply absent."""

from __future__ import annotations

import struct
from dataclasses import dataclass

# (name, offset, size) per class.
EHDR = {
    64: (("e_type", 16, 2), ("e_machine", 18, 2), ("e_version", 20, 4), ("e_entry", 24, 8), ("e_phoff", 32, 8),
         ("e_shoff", 40, 8), ("e_flags", 48, 4), ("e_ehsize", 52, 2), ("e_phentsize", 54, 2), ("e_phnum", 56, 2),
         ("e_shentsize", 58, 2), ("e_shnum", 60, 2), ("e_shstrndx", 62, 2)),
    32: (("e_type", 16, 2), ("e_machine", 18, 2), ("e_version", 20, 4), ("e_entry", 24, 4), ("e_phoff", 28, 4),
         ("e_shoff", 32, 4), ("e_flags", 36, 4), ("e_ehsize", 40, 2), ("e_phentsize", 42, 2), ("e_phnum", 44, 2),
         ("e_shentsize", 46, 2), ("e_shnum", 48, 2), ("e_shstrndx", 50, 2)),
}
PHDR = {
    64: (("p_type", 0, 4), ("p_flags", 4, 4), ("p_offset", 8, 8), ("p_vaddr", 16, 8), ("p_paddr", 24, 8),
         ("p_filesz", 32, 8), ("p_memsz", 40, 8), ("p_align", 48, 8)),
    32: (("p_type", 0, 4), ("p_offset", 4, 4), ("p_vaddr", 8, 4), ("p_paddr", 12, 4), ("p_filesz", 16, 4),
         ("p_memsz", 20, 4), ("p_flags", 24, 4), ("p_align", 28, 4)),
}
SHDR = {
    64: (("sh_name", 0, 4), ("sh_type", 4, 4), ("sh_flags", 8, 8), ("sh_addr", 16, 8), ("sh_offset", 24, 8),
         ("sh_size", 32, 8), ("sh_link", 40, 4), ("sh_info", 44, 4), ("sh_addralign", 48, 8), ("sh_entsize", 56, 8)),
    32: (("sh_name", 0, 4), ("sh_type", 4, 4), ("sh_flags", 8, 4), ("sh_addr", 12, 4), ("sh_offset", 16, 4),
         ("sh_size", 20, 4), ("sh_link", 24, 4), ("sh_info", 28, 4), ("sh_addralign", 32, 4), ("sh_entsize", 36, 4)),
}
# relinterp's config block (all classes): relinterp/elf/record.py's CONFIG_FIELDS, and its trailer.
CONFIG = (("config_vaddr", 0, 8), ("entry", 8, 8), ("dynamic", 16, 8), ("flags", 24, 4), ("ncandidates", 28, 4),
          ("candidates", 32, 4), ("candidates_size", 36, 4), ("restore", 40, 4), ("restore_size", 44, 4))
RESTORE_HEAD = (("original_size", 0, 8), ("header_size", 8, 4), ("phdrs_size", 12, 4))
TRAILER_SIZE, TRAILER_MAGIC = 16, b"RELINTRP"
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}  # struct's unsigned format for each field width


@dataclass(frozen=True)
class Field:
    """A fixed-width unsigned field at `offset`."""

    name: str
    offset: int
    size: int


class Layout:
    """The tables of one ELF image (bytes), as far as they can be found."""

    def __init__(self, data: bytes | bytearray) -> None:
        self.data = data
        self.ok = len(data) >= 52 and data[:4] == b"\x7fELF" and data[4] in (1, 2) and data[5] in (1, 2)
        self.bits = 64 if self.ok and data[4] == 2 else 32
        self.order = "<" if not self.ok or data[5] == 1 else ">"
        if self.ok and len(data) < 64 and self.bits == 64:
            self.ok = False

    def read(self, field: Field) -> int:
        if field.offset + field.size > len(self.data):
            return 0
        return struct.unpack_from(self.order + FORMATS[field.size], self.data, field.offset)[0]

    def write(self, field: Field, value: int) -> None:
        """Set `field` in the data (a bytearray), cut to the field's width."""
        value &= (1 << (8 * field.size)) - 1
        struct.pack_into(self.order + FORMATS[field.size], self.data, field.offset, value)

    def header_fields(self) -> list[Field]:
        return [Field(n, o, s) for n, o, s in EHDR[self.bits]] if self.ok else []

    def header(self, name: str) -> int:
        return next(self.read(f) for f in self.header_fields() if f.name == name)

    def _table(self, offset_name: str, count_name: str, entry: int) -> list[int]:
        if not self.ok:
            return []
        start, count = self.header(offset_name), self.header(count_name)
        return [start + i * entry for i in range(min(count, 4096)) if start + (i + 1) * entry <= len(self.data)]

    def phdrs(self) -> list[int]:
        return self._table("e_phoff", "e_phnum", 56 if self.bits == 64 else 32)

    def shdrs(self) -> list[int]:
        return self._table("e_shoff", "e_shnum", 64 if self.bits == 64 else 40)

    def fields_at(self, table: dict, at: int) -> list[Field]:
        return [Field(n, at + o, s) for n, o, s in table[self.bits]]

    def segment(self, at: int) -> dict[str, int]:
        return {f.name: self.read(f) for f in self.fields_at(PHDR, at)}

    def segments_of(self, kind: int) -> list[int]:
        return [at for at in self.phdrs() if self.segment(at)["p_type"] == kind]

    def dynamic_entries(self) -> list[int]:
        """File offsets of the Elf_Dyn entries of PT_DYNAMIC (in the file, by p_offset)."""
        size = 16 if self.bits == 64 else 8
        entries = []
        for at in self.segments_of(PT_DYNAMIC):
            seg = self.segment(at)
            end = min(seg["p_offset"] + seg["p_filesz"], len(self.data))
            entries += list(range(seg["p_offset"], end - size + 1, size))[:512]
        return entries

    def dynamic_fields(self, at: int) -> tuple[Field, Field]:
        half = 8 if self.bits == 64 else 4
        return Field("d_tag", at, half), Field("d_val", at + half, half)

    def config_block(self) -> int | None:
        """File offset of relinterp's config block, if the last PT_LOAD ends with its trailer."""
        loads = self.segments_of(PT_LOAD)
        if not loads:
            return None
        seg = self.segment(loads[-1])
        end = seg["p_offset"] + seg["p_filesz"]
        if end > len(self.data) or seg["p_filesz"] < TRAILER_SIZE:
            return None
        trailer = self.data[end - TRAILER_SIZE : end]
        if trailer[:8] != TRAILER_MAGIC:
            return None
        return seg["p_offset"] + struct.unpack_from(self.order + "I", trailer, 8)[0]

    def config_fields(self) -> list[Field]:
        """The config block's fields, its restore record's sizes and the recorded headers'
        fields (the ELF header and program headers `restore` would put back)."""
        block = self.config_block()
        if block is None:
            return []
        fields = [Field(n, block + o, s) for n, o, s in CONFIG]
        fields.append(Field("trailer.config_offset", self._trailer_end() - 8, 4))
        restore = block + self.read(next(f for f in fields if f.name == "restore"))
        sizes = [Field(f"restore.{n}", restore + o, s) for n, o, s in RESTORE_HEAD]
        recorded_header = restore + 16
        phdrs_at = recorded_header + self.read(sizes[1])  # after restore.header_size bytes
        fields += sizes + [Field(f"recorded.{n}", recorded_header + o, s) for n, o, s in EHDR[self.bits]]
        entry = 56 if self.bits == 64 else 32
        for i in range(4):  # the first recorded program headers: PT_PHDR, PT_INTERP, PT_LOADs
            recorded = self.fields_at(PHDR, phdrs_at + i * entry)
            fields += [Field(f"recorded.phdr[{i}].{f.name}", f.offset, f.size) for f in recorded]
        return [f for f in fields if f.offset + f.size <= len(self.data)]

    def _trailer_end(self) -> int:
        seg = self.segment(self.segments_of(PT_LOAD)[-1])
        return seg["p_offset"] + seg["p_filesz"]
