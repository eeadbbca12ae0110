"""Mutations: byte flips, and structure-aware ones that set a header, program header,
section header, dynamic entry or config block field to a value chosen to hit edges
(0, all ones, 2^31, 2^32, the file size, off by one...), damage strings, duplicate or
drop entries, cut or grow the file.

Every mutation is a function (rng, data, layout) -> description or None (not
applicable to this file); the description says exactly what changed, for the report.
"""

from __future__ import annotations

import random

from .layout import PHDR, PT_DYNAMIC, PT_INTERP, PT_LOAD, SHDR, Field, Layout

DT_TAGS = (0, 1, 5, 6, 10, 15, 29, 0x6FFFFFFB, 0x6FFFFEF5, 35, 36, 21, 30, 12, 3, 0x7FFFFFFF, 0x80000000)


def interesting(rng: random.Random, old: int, size: int, file_size: int) -> int:
    top = (1 << (8 * size)) - 1
    choices = [0, 1, 2, 7, 8, 0x10, 0x40, 0x7F, 0x80, 0xFF, 0x100, 0xFFF, 0x1000, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
               0xFFFF0000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32, (1 << 32) + 0x1000, (1 << 63) - 1, 1 << 63,
               top, top - 1, top - 0xFFF, file_size, file_size - 1, file_size + 1, file_size // 2,
               old + 1, old - 1, old + 0x1000, old - 0x1000, old * 2, old // 2, old ^ (1 << rng.randrange(8 * size)),
               rng.getrandbits(8 * size)]
    return rng.choice(choices) & top


def set_field(rng: random.Random, data: bytearray, layout: Layout, field: Field, where: str) -> str:
    old = layout.read(field)
    new = interesting(rng, old, field.size, len(data))
    layout.write(field, new)
    return f"{where}{field.name} {old:#x} -> {new:#x}"


def byte_flips(rng, data, layout) -> str | None:
    if not data:
        return None
    spots = []
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(data)) if rng.random() < 0.5 else rng.randrange(min(len(data), 512))
        data[at] = rng.randrange(256) if rng.random() < 0.5 else data[at] ^ (1 << rng.randrange(8))
        spots.append(at)
    return "bytes at " + ",".join(f"{s:#x}" for s in spots)


def header_field(rng, data, layout) -> str | None:
    fields = layout.header_fields()
    if not fields:
        return None
    if rng.random() < 0.1:
        at = rng.choice((4, 5, 6, 7))
        data[at] = rng.choice((0, 1, 2, 3, 0xFF))
        return f"e_ident[{at}] -> {data[at]}"
    return set_field(rng, data, layout, rng.choice(fields), "")


def phdr_field(rng, data, layout) -> str | None:
    entries = layout.phdrs()
    if not entries:
        return None
    # Favour the entries relinterp reads most: PT_LOAD, PT_INTERP, PT_DYNAMIC.
    key = [at for at in entries if layout.segment(at)["p_type"] in (PT_LOAD, PT_INTERP, PT_DYNAMIC)]
    at = rng.choice(key if key and rng.random() < 0.7 else entries)
    index = entries.index(at)
    return set_field(rng, data, layout, rng.choice(layout.fields_at(PHDR, at)), f"phdr[{index}].")


def shdr_field(rng, data, layout) -> str | None:
    entries = layout.shdrs()
    if not entries:
        return None
    at = rng.choice(entries)
    return set_field(rng, data, layout, rng.choice(layout.fields_at(SHDR, at)), f"shdr[{entries.index(at)}].")


def dynamic_entry(rng, data, layout) -> str | None:
    entries = layout.dynamic_entries()
    if not entries:
        return None
    at = rng.choice(entries)
    tag, value = layout.dynamic_fields(at)
    where = f"dyn[{entries.index(at)}]."
    if rng.random() < 0.4:
        new = rng.choice(DT_TAGS)
        layout.write(tag, new)
        return f"{where}d_tag -> {new:#x}"
    return set_field(rng, data, layout, value, where)


def string_damage(rng, data, layout) -> str | None:
    """Take the NULs out of a stretch of strings: PT_INTERP's, or the dynamic string
    table's (found as the section-free reader finds it: DT_STRTAB through PT_LOAD)."""
    interp = layout.segments_of(PT_INTERP)
    if interp and rng.random() < 0.4:
        seg = layout.segment(interp[0])
        end = seg["p_offset"] + seg["p_filesz"]
        if 0 < end <= len(data):
            data[end - 1] = ord("x")
            return "PT_INTERP without its NUL"
    start = _strtab_offset(layout)
    if start is None:
        return None
    length = rng.choice((16, 256, 4096))
    end = min(len(data), start + length)
    data[start:end] = bytes(b if b else ord("A") for b in data[start:end])
    return f"dynamic strings {start:#x}..{end:#x} without NULs"


def _strtab_offset(layout: Layout) -> int | None:
    fields = [layout.dynamic_fields(at) for at in layout.dynamic_entries()]
    strtab = next((layout.read(v) for t, v in fields if layout.read(t) == 5), None)
    if strtab is None:
        return None
    for at in layout.segments_of(PT_LOAD):
        seg = layout.segment(at)
        if seg["p_vaddr"] <= strtab < seg["p_vaddr"] + seg["p_filesz"]:
            offset = seg["p_offset"] + strtab - seg["p_vaddr"]
            return offset if offset < len(layout.data) else None
    return None


def config_field(rng, data, layout) -> str | None:
    fields = layout.config_fields()
    if not fields:
        return None
    return set_field(rng, data, layout, rng.choice(fields), "config.")


def structural(rng, data, layout) -> str | None:
    return rng.choice(STRUCTURAL)(rng, data, layout)


def second_interp(rng, data, layout) -> str | None:
    """Turn another entry into a copy of PT_INTERP (or into a PT_INTERP of its own)."""
    entries, interp = layout.phdrs(), layout.segments_of(PT_INTERP)
    others = [at for at in entries if at not in interp and layout.segment(at)["p_type"] != PT_LOAD]
    if not others:
        return None
    at = rng.choice(others)
    size = 56 if layout.bits == 64 else 32
    if interp and rng.random() < 0.7:
        data[at : at + size] = data[interp[0] : interp[0] + size]
    else:
        layout.write(Field("p_type", at, 4), PT_INTERP)
    return f"phdr[{entries.index(at)}] made a second PT_INTERP"


def unmapped_dynamic(rng, data, layout) -> str | None:
    """Move PT_DYNAMIC's address where no PT_LOAD maps it."""
    dyn = layout.segments_of(PT_DYNAMIC)
    loads = [layout.segment(at) for at in layout.segments_of(PT_LOAD)]
    if not dyn or not loads:
        return None
    top = max(s["p_vaddr"] + s["p_memsz"] for s in loads)
    field = next(f for f in layout.fields_at(PHDR, dyn[0]) if f.name == "p_vaddr")
    new = (top + 0x10000) & ((1 << (8 * field.size)) - 1)
    layout.write(field, new)
    return f"PT_DYNAMIC p_vaddr -> {new:#x}, outside every PT_LOAD"


def swap_phdrs(rng, data, layout) -> str | None:
    entries = layout.phdrs()
    if len(entries) < 2:
        return None
    a, b = rng.sample(entries, 2)
    size = 56 if layout.bits == 64 else 32
    data[a : a + size], data[b : b + size] = data[b : b + size], data[a : a + size]
    return f"phdr[{entries.index(a)}] <-> phdr[{entries.index(b)}]"


def truncate(rng, data, layout) -> str | None:
    if len(data) < 2:
        return None
    cut = rng.choice((rng.randrange(len(data)), rng.randrange(min(len(data), 1024)), len(data) - rng.randint(1, 64)))
    cut = max(0, cut)
    del data[cut:]
    return f"truncated to {cut} bytes"


def grow(rng, data, layout) -> str | None:
    """Append bytes (zeros, 'A's or random) and point a PT_DYNAMIC or PT_INTERP at them."""
    extra = rng.choice((64, 4096, 65536, 1 << 20))
    start = len(data)
    filler = rng.choice((b"\0", b"A", None))
    data += rng.randbytes(extra) if filler is None else filler * extra
    targets = layout.segments_of(PT_DYNAMIC) + layout.segments_of(PT_INTERP)
    if not targets or rng.random() < 0.3:
        return f"{extra} bytes appended"
    at = rng.choice(targets)
    fields = {f.name: f for f in layout.fields_at(PHDR, at)}
    layout.write(fields["p_offset"], start)
    layout.write(fields["p_filesz"], extra)
    return f"{extra} bytes appended, phdr[{layout.phdrs().index(at)}] pointed at them"


STRUCTURAL = (second_interp, unmapped_dynamic, swap_phdrs, truncate, grow)
# (mutation, weight)
MUTATIONS = ((byte_flips, 18), (header_field, 14), (phdr_field, 22), (shdr_field, 5), (dynamic_entry, 14),
             (string_damage, 7), (config_field, 10), (structural, 10))


def mutate(rng: random.Random, data: bytes, patched: bool) -> tuple[bytes, list[str]]:
    """1 to 3 stacked mutations of `data`; config-block ones only for patched seeds."""
    out = bytearray(data)
    done: list[str] = []
    choices = [(m, w * (3 if patched and m is config_field else 1)) for m, w in MUTATIONS]
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        for _attempt in range(4):
            mutation = rng.choices([m for m, _ in choices], [w for _, w in choices])[0]
            what = mutation(rng, out, Layout(out))
            if what is not None:
                done.append(what)
                break
    if not done:
        done.append(byte_flips(rng, out, Layout(out)) or "empty file")
    return bytes(out), done
