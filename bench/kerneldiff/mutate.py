"""Mutations of a real loader: its ELF header and program headers (fields set to values
chosen to hit edges, entries swapped, moved, added, the file cut), and of the file as a
file: its mode and owner, its type, a writer holding it open, the user who runs it.

Every header mutation is a function (rng, image) -> description, or None where it does
not apply; the description says exactly what changed, for the report.
"""

from __future__ import annotations

import random
import struct

from .elf import PHDR, PT_DYNAMIC, PT_LOAD, LoaderImage

PAGE = 0x1000
PF_X, PF_W, PF_R = 1, 2, 4
ET_EXEC, ET_REL, ET_CORE = 2, 1, 4
EM_486, EM_386, EM_X86_64 = 6, 3, 62


def interesting(rng: random.Random, old: int, width: int, file_size: int) -> int:
    top = (1 << (8 * width)) - 1
    choices = [0, 1, 2, 8, 0x40, 0x7F, 0x80, 0xFF, 0x100, 0xFFF, 0x1000, 0x1001, 0xFFFF, 0x10000, 0x7FFFFFFF,
               0x80000000, 0xFFFFFFFF, 1 << 32, 1 << 40, (1 << 47) - PAGE, (1 << 63) - 1, 1 << 63, top, top - 1,
               top - 0xFFF, file_size, file_size - 1, file_size + 1, file_size // 2, old + 1, old - 1, old + PAGE,
               old - PAGE, old + 8, old - 8, old * 2, old // 2, old ^ (1 << rng.randrange(8 * width)),
               rng.getrandbits(8 * width)]
    return rng.choice(choices) & top


def header_field(rng, img: LoaderImage) -> str:
    name = rng.choice(["e_type", "e_machine", "e_entry", "e_entry", "e_phoff", "e_phoff", "e_phentsize", "e_phnum",
                       "e_phnum", "e_version", "e_flags", "e_ehsize"])
    old = img.get(name)
    img.set(name, interesting(rng, old, img.width(name), len(img.data)))
    return f"{name} {old:#x} -> {img.get(name):#x}"


def ident_byte(rng, img: LoaderImage) -> str:
    at = rng.choice((4, 5, 6, 7, 8, 9, 15))
    old = img.data[at]
    img.data[at] = rng.choice((0, 1, 2, 3, 0x7F, 0xFF))
    return f"e_ident[{at}] {old} -> {img.data[at]}"


def special_header(rng, img: LoaderImage) -> str:
    name, value = rng.choice([("e_type", ET_EXEC), ("e_type", ET_REL), ("e_type", ET_CORE), ("e_machine", EM_486),
                              ("e_machine", EM_386 if img.wide else EM_X86_64), ("e_machine", 0)])
    old = img.get(name)
    img.set(name, value)
    return f"{name} {old:#x} -> {value:#x}"


def pick_entry(rng, img: LoaderImage, loads_only: bool = False) -> int | None:
    loads = img.loads()
    if loads and (loads_only or rng.random() < 0.7):
        return rng.choice(loads)
    return None if loads_only or not img.phnum() else rng.randrange(min(img.phnum(), 64))


def phdr_field(rng, img: LoaderImage) -> str | None:
    index = pick_entry(rng, img)
    if index is None or img.get("e_phoff") + (index + 1) * img.phentsize > len(img.data):
        return None
    name = rng.choice(list(PHDR))
    old = img.get(name, index)
    new = rng.choice((PT_LOAD, PT_DYNAMIC, 0, 6, 7)) if name == "p_type" and rng.random() < 0.5 else \
        rng.randrange(8) if name == "p_flags" else interesting(rng, old, img.width(name), len(img.data))
    img.set(name, new, index)
    return f"phdr[{index}].{name} {old:#x} -> {new:#x}"


def bss_tail(rng, img: LoaderImage) -> str | None:
    """p_memsz past p_filesz on a segment that has none (a text segment's last page)."""
    index = pick_entry(rng, img, loads_only=True)
    if index is None:
        return None
    extra = rng.choice((1, 2, 8, 0x100, PAGE, PAGE + 1, 3 * PAGE))
    img.set("p_memsz", img.get("p_filesz", index) + extra, index)
    return f"phdr[{index}].p_memsz = p_filesz + {extra:#x}"


def load_flags(rng, img: LoaderImage) -> str | None:
    index = pick_entry(rng, img, loads_only=True)
    if index is None:
        return None
    new = rng.randrange(8)
    img.set("p_flags", new, index)
    return f"phdr[{index}].p_flags -> {''.join(c for c, b in zip('RWX', (PF_R, PF_W, PF_X)) if new & b) or '-'}"


def swap_entries(rng, img: LoaderImage) -> str | None:
    loads = img.loads()
    if len(loads) < 2:
        return None
    a, b = rng.sample(loads, 2) if rng.random() < 0.7 else (rng.choice(loads), rng.randrange(img.phnum()))
    ea, eb = img.entry_bytes(a), img.entry_bytes(b)
    img.put_entry(a, eb)
    img.put_entry(b, ea)
    return f"phdr[{a}] <-> phdr[{b}]"


def overlap(rng, img: LoaderImage) -> str | None:
    loads = img.loads()
    if len(loads) < 2:
        return None
    index = rng.choice(loads[1:])
    back = PAGE * rng.choice((1, 2, 16))
    for name in ("p_vaddr", "p_offset"):
        img.set(name, img.get(name, index) - back, index)
    img.set("p_filesz", img.get("p_filesz", index) + back, index)
    img.set("p_memsz", img.get("p_memsz", index) + back, index)
    return f"phdr[{index}] starts {back:#x} lower (overlapping)"


def move_table(rng, img: LoaderImage) -> str:
    """The program header table copied to the end of the file (aligned or not), perhaps
    with entries more: PT_NULL ones, or zero-size PT_LOADs."""
    count = img.phnum()
    table = b"".join(img.entry_bytes(i) for i in range(count))
    extra = rng.choice((0, 0, 1, 24, 40, 64, 65, 80, 120))
    filler = bytearray(img.phentsize)
    kind = rng.choice(("null", "load"))
    if kind == "load":
        filler[0] = PT_LOAD
    pad = rng.choice((0, 1, 4, PAGE - len(img.data) % PAGE))
    at = len(img.data) + pad
    img.data += bytes(pad) + table + bytes(filler) * extra
    img.set("e_phoff", at)
    img.set("e_phnum", count + extra)
    return f"table moved to {at:#x} with {extra} {kind} entries more"


def first_zero_size(rng, img: LoaderImage) -> str | None:
    """A PT_LOAD of size 0 first in the table, the others shifted down one."""
    entries = [img.entry_bytes(i) for i in range(img.phnum())]
    victim = next((i for i in range(len(entries) - 1, -1, -1) if img.get("p_type", i) != PT_LOAD), None)
    if victim is None:
        return None
    zero = bytearray(img.phentsize)
    zero[0] = PT_LOAD
    vaddr = rng.choice((0, PAGE, 0x100000, img.get("p_vaddr", img.loads()[-1])))
    rows = [bytes(zero)] + [e for i, e in enumerate(entries) if i != victim]
    for i, row in enumerate(rows):
        img.put_entry(i, row)
    img.set("p_vaddr", vaddr, 0)
    return f"zero-size PT_LOAD at {vaddr:#x} first (phdr[{victim}] dropped)"


def first_filesz_zero(rng, img: LoaderImage) -> str | None:
    first = img.loads()[0]
    img.set("p_filesz", 0, first)
    return f"phdr[{first}].p_filesz -> 0 (the first PT_LOAD)"


def end_in_last_page(rng, img: LoaderImage) -> str | None:
    """The file cut inside the last segment's last page, or that segment made to end past
    the file's end within its last page."""
    last = img.loads()[-1]
    end = img.get("p_offset", last) + img.get("p_filesz", last)
    if rng.random() < 0.5:
        cut = (end & -PAGE) + rng.randrange(1, max(2, end % PAGE or 2))
        del img.data[max(cut, 0x2000):]
        return f"file cut to {len(img.data):#x} (last segment ends at {end:#x})"
    grow = rng.randrange(1, PAGE - len(img.data) % PAGE or PAGE)
    img.set("p_filesz", img.get("p_filesz", last) + len(img.data) - end + grow, last)
    img.set("p_memsz", max(img.get("p_memsz", last), img.get("p_filesz", last)), last)
    return f"phdr[{last}] ends {grow:#x} past the end of the file"


def dynamic_elsewhere(rng, img: LoaderImage) -> str | None:
    index = img.index_of(PT_DYNAMIC)
    if index is None:
        return None
    new = rng.choice((0, 8, 1 << 40, (1 << img.bits) - 16, img.get("p_vaddr", index) + (1 << 30), len(img.data) * 4))
    img.set("p_vaddr", new, index)
    return f"PT_DYNAMIC at {new:#x}"


def cut(rng, img: LoaderImage) -> str:
    size = rng.choice((0, 10, 52, 64, 100, 0x800, 0x1000, len(img.data) // 2, len(img.data) - 1,
                       rng.randrange(len(img.data))))
    del img.data[size:]
    return f"file cut to {size:#x} bytes"


def byte_flips(rng, img: LoaderImage) -> str:
    spots = []
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(min(len(img.data), 0x800))
        img.data[at] ^= 1 << rng.randrange(8)
        spots.append(at)
    return "bits flipped at " + ",".join(f"{s:#x}" for s in spots)


# (mutation, weight)
HEADER_MUTATIONS = [
    (header_field, 14), (ident_byte, 3), (special_header, 4), (phdr_field, 30), (bss_tail, 5), (load_flags, 6),
    (swap_entries, 5), (overlap, 3), (move_table, 5), (first_zero_size, 3), (first_filesz_zero, 2),
    (end_in_last_page, 3), (dynamic_elsewhere, 4), (cut, 3), (byte_flips, 6),
]


def mutate_headers(rng: random.Random, data: bytes) -> tuple[bytes, list[str]]:
    """One to three header mutations of the loader's bytes, and what they were."""
    img = LoaderImage(data)
    done: list[str] = []
    functions, weights = zip(*HEADER_MUTATIONS)
    for _ in range(rng.choice((1, 1, 1, 1, 2, 2, 3))):
        try:
            what = rng.choices(functions, weights)[0](rng, img)
        except (IndexError, ValueError, KeyError, OverflowError, struct.error):  # too broken already for this one
            what = None
        if what:
            done.append(what)
    return bytes(img.data), done
