"""What a file's GNU property notes (PT_GNU_PROPERTY, NT_GNU_PROPERTY_TYPE_0) ask of the
kernel: here, whether an AArch64 file is marked for BTI (branch target identification),
which makes the kernel map its code with PROT_BTI."""

from __future__ import annotations

import struct

from .model import Executable
from .regular import open_regular
from .structs import align_up

NT_GNU_PROPERTY_TYPE_0 = 5
GNU_PROPERTY_AARCH64_FEATURE_1_AND, GNU_PROPERTY_AARCH64_FEATURE_1_BTI = 0xC0000000, 0x1


def marked_for_bti(exe: Executable, data: bytes | None = None) -> bool:
    """Whether an AArch64 file is marked for BTI: its PT_GNU_PROPERTY holds
    GNU_PROPERTY_AARCH64_FEATURE_1_AND with the BTI bit (read from `data`, its bytes, or
    from its file).  Without an interpreter the kernel applies the executable's marking
    to all of it (arch/arm64 arch_elf_adjust_prot)."""
    segment = next((s for s in exe.segments if s.type == "PT_GNU_PROPERTY"), None)
    if exe.machine != "EM_AARCH64" or segment is None:
        return False
    if data is None:
        with open_regular(exe.path) as stream:
            stream.seek(segment.offset)
            notes = stream.read(segment.filesz)
    else:
        notes = data[segment.offset : segment.offset + segment.filesz]
    order, step = ("<" if exe.little_endian else ">"), 8 if exe.elfclass == 64 else 4
    while len(notes) >= 12:
        namesz, descsz, kind = struct.unpack_from(order + "III", notes)
        desc_at = 12 + align_up(namesz, 4)
        desc = notes[desc_at : desc_at + descsz]
        if kind == NT_GNU_PROPERTY_TYPE_0 and notes[12 : 12 + namesz] == b"GNU\0":
            while len(desc) >= 8:
                pr_type, size = struct.unpack_from(order + "II", desc)
                if pr_type == GNU_PROPERTY_AARCH64_FEATURE_1_AND and size >= 4:
                    return bool(struct.unpack_from(order + "I", desc, 8)[0] & GNU_PROPERTY_AARCH64_FEATURE_1_BTI)
                desc = desc[8 + align_up(size, step):]
        notes = notes[desc_at + align_up(descsz, 4):]
    return False
