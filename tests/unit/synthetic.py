"""Small ELF files built in Python, for tests that need no toolchain: the smallest layout
a dynamic executable has (ELF header, PT_PHDR, PT_INTERP, one PT_LOAD over the whole
file) and, when asked, a PT_DYNAMIC with its string table.

Built from pyelftools' struct definitions, not relinterp's own: what is read back is then
checked against an independent writer of the format.
"""

from __future__ import annotations

from elftools.construct import Container
from elftools.elf.structs import ELFStructs

from relinterp.rewrite.stub import StubBlob

INTERP = b"/lib/ld-test.so.1\0"
LAYOUTS = [(32, True, "EM_386"), (32, False, "EM_PPC"), (64, True, "EM_X86_64"), (64, False, "EM_S390")]


def synthetic_executable(path, elfclass: int, little: bool, machine: str, align: int = 0x1000,
                         base: int = 0, null_phdrs: int = 0, dynamic: list[tuple[str, int | str]] | None = None,
                         elf_type: str = "ET_DYN", split_strings: bool = False) -> None:
    """Write the file; `dynamic`: (tag, value) entries, a str value being put in the
    string table (DT_STRTAB, DT_STRSZ and DT_NULL are added).  `split_strings`: two
    adjacent PT_LOADs instead of one, the second starting in the middle of the string
    table (as patchelf 0.14 leaves `.dynstr`)."""
    structs = ELFStructs(little, elfclass)
    structs.create_basic_structs()
    structs.create_advanced_structs(elf_type, machine, None)
    ehsize, phentsize = structs.Elf_Ehdr.sizeof(), structs.Elf_Phdr.sizeof()
    phnum = 3 + null_phdrs + (dynamic is not None) + split_strings
    interp_at = ehsize + phnum * phentsize
    tail = INTERP + _dynamic_bytes(structs, dynamic, base, interp_at + len(INTERP)) if dynamic is not None else INTERP
    strings_at = interp_at + len(INTERP) + (len(dynamic or ()) + 3) * structs.Elf_Dyn.sizeof()
    size = interp_at + len(tail) + 100  # some "code"

    def phdr(kind, offset, filesz, flags=4, align_=1):
        return structs.Elf_Phdr.build(Container(p_type=kind, p_flags=flags, p_offset=offset, p_vaddr=base + offset,
                                                p_paddr=base + offset, p_filesz=filesz, p_memsz=filesz,
                                                p_align=align_))

    header = structs.Elf_Ehdr.build(Container(
        e_ident=Container(EI_MAG=[0x7F, 0x45, 0x4C, 0x46], EI_CLASS=f"ELFCLASS{elfclass}",
                          EI_DATA="ELFDATA2LSB" if little else "ELFDATA2MSB", EI_VERSION="EV_CURRENT",
                          EI_OSABI="ELFOSABI_SYSV", EI_ABIVERSION=0),
        e_type=elf_type, e_machine=machine, e_version="EV_CURRENT", e_entry=base + interp_at + len(tail),
        e_phoff=ehsize, e_shoff=0, e_flags=0, e_ehsize=ehsize, e_phentsize=phentsize, e_phnum=phnum,
        e_shentsize=0, e_shnum=0, e_shstrndx=0))
    table = phdr("PT_PHDR", ehsize, phnum * phentsize) + phdr("PT_INTERP", interp_at, len(INTERP))
    if dynamic is not None:
        dyn_at = interp_at + len(INTERP)
        table += phdr("PT_DYNAMIC", dyn_at, (len(dynamic) + 3) * structs.Elf_Dyn.sizeof(), flags=6)
    if split_strings:
        split = strings_at + (interp_at + len(tail) - strings_at) // 2
        table += phdr("PT_LOAD", 0, split, flags=5, align_=1) + phdr("PT_LOAD", split, size - split, flags=5, align_=1)
    else:
        table += phdr("PT_LOAD", 0, size, flags=5, align_=align)
    table += phdr("PT_NULL", 0, 0) * null_phdrs
    body = header + table + tail
    path.write_bytes(body + bytes(range(size - len(body))))


def _dynamic_bytes(structs, entries, base: int, at: int) -> bytes:
    """The Elf_Dyn table at file offset `at`, followed by its string table."""
    strings, values = b"\0", []
    for tag, value in entries:
        if isinstance(value, str):
            values.append((tag, len(strings)))
            strings += value.encode() + b"\0"
        else:
            values.append((tag, value))
    strtab = at + (len(entries) + 3) * structs.Elf_Dyn.sizeof()
    values += [("DT_STRTAB", base + strtab), ("DT_STRSZ", len(strings)), ("DT_NULL", 0)]
    return b"".join(structs.Elf_Dyn.build(Container(d_tag=tag, d_val=value, d_ptr=value)) for tag, value in values) + strings


def fake_stub(exe) -> StubBlob:
    """A stub blob for any machine: code no test runs, its entry 8 bytes in."""
    code = b"\xAA" * 40
    return StubBlob(arch="test", machine=exe.machine, elfclass=exe.elfclass, little_endian=exe.little_endian,
                    code=code, entry_offset=8, config_offset=len(code), sha256="")
