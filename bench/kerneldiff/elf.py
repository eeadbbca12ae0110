"""A loader's ELF header and program headers, read and written by field name, for either
class (little-endian: the machines this runs natively are x86_64 and i386)."""

from __future__ import annotations

import struct

PT_LOAD, PT_DYNAMIC, PT_PHDR = 1, 2, 6
# name: (format, offset in ELF64, format, offset in ELF32)
HEADER = {
    "e_type": ("H", 16, "H", 16), "e_machine": ("H", 18, "H", 18), "e_version": ("I", 20, "I", 20),
    "e_entry": ("Q", 24, "I", 24), "e_phoff": ("Q", 32, "I", 28), "e_flags": ("I", 48, "I", 36),
    "e_ehsize": ("H", 52, "H", 40), "e_phentsize": ("H", 54, "H", 42), "e_phnum": ("H", 56, "H", 44),
}
PHDR = {
    "p_type": ("I", 0, "I", 0), "p_flags": ("I", 4, "I", 24), "p_offset": ("Q", 8, "I", 4),
    "p_vaddr": ("Q", 16, "I", 8), "p_paddr": ("Q", 24, "I", 12), "p_filesz": ("Q", 32, "I", 16),
    "p_memsz": ("Q", 40, "I", 20), "p_align": ("Q", 48, "I", 28),
}


class LoaderImage:
    """The bytes of a loader, with its header fields by name; the program header table is
    wherever e_phoff says (as the original file has it: mutations may move it)."""

    def __init__(self, data: bytes):
        self.data = bytearray(data)
        self.wide = data[4] == 2
        self.bits = 64 if self.wide else 32
        self.phentsize = 56 if self.wide else 32

    def _spec(self, table: dict, name: str) -> tuple[str, int]:
        wide_fmt, wide_at, narrow_fmt, narrow_at = table[name]
        return ("<" + wide_fmt, wide_at) if self.wide else ("<" + narrow_fmt, narrow_at)

    def width(self, name: str) -> int:
        return struct.calcsize(self._spec(HEADER if name in HEADER else PHDR, name)[0])

    def get(self, name: str, index: int | None = None) -> int:
        fmt, at = self._at(name, index)
        return struct.unpack_from(fmt, self.data, at)[0]

    def set(self, name: str, value: int, index: int | None = None) -> None:
        fmt, at = self._at(name, index)
        struct.pack_into(fmt, self.data, at, value & ((1 << (8 * struct.calcsize(fmt))) - 1))

    def _at(self, name: str, index: int | None) -> tuple[str, int]:
        if index is None:
            return self._spec(HEADER, name)
        fmt, at = self._spec(PHDR, name)
        return fmt, self.get("e_phoff") + index * self.phentsize + at

    def phnum(self) -> int:
        return self.get("e_phnum")

    def entry_bytes(self, index: int) -> bytes:
        at = self.get("e_phoff") + index * self.phentsize
        return bytes(self.data[at:at + self.phentsize])

    def put_entry(self, index: int, entry: bytes) -> None:
        at = self.get("e_phoff") + index * self.phentsize
        self.data[at:at + self.phentsize] = entry

    def loads(self) -> list[int]:
        return [i for i in range(self.phnum()) if self.get("p_type", i) == PT_LOAD]

    def index_of(self, p_type: int) -> int | None:
        return next((i for i in range(self.phnum()) if self.get("p_type", i) == p_type), None)

    def image_end(self) -> int:
        """Where the last PT_LOAD ends in memory, page-rounded."""
        ends = [self.get("p_vaddr", i) + self.get("p_memsz", i) for i in self.loads()]
        return (max(ends, default=0) + 0xFFF) & ~0xFFF

    def loads_out_of_order(self) -> bool:
        """Whether the first PT_LOAD in the table is not the lowest (by page)."""
        pages = [self.get("p_vaddr", i) & ~0xFFF for i in self.loads()]
        return bool(pages) and pages[0] != min(pages)

    def span(self) -> int:
        """From the lowest PT_LOAD's page to the end of the highest."""
        loads = self.loads()
        low = min((self.get("p_vaddr", i) & ~0xFFF for i in loads), default=0)
        return self.image_end() - low

    def reaches_past_image(self) -> bool:
        """Whether a program header the loader reads itself (PT_DYNAMIC, PT_TLS,
        PT_GNU_RELRO, ...) points past the end of its PT_LOADs."""
        end = self.image_end()
        return any(self.get("p_type", i) not in (PT_LOAD, PT_PHDR) and self.get("p_memsz", i) and
                   self.get("p_vaddr", i) + self.get("p_memsz", i) > end for i in range(self.phnum()))
