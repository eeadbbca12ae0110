"""Where a patch puts the stub in the file, and what moves to make room for it.

A linked program's file holds first what is loaded (the bytes the PT_LOAD segments
map: headers, code, data) and then what is not: .comment, debug info, .symtab,
.strtab, .shstrtab, the section header table.  Tools that rewrite the part that is not
loaded rely on that order: dwz, which Debian's dh_dwz and rpm's find-debuginfo run on
installed programs, shrinks the debug sections and moves whatever follows them, and
refuses a file with a loaded section there ("Allocatable section after non-allocatable
ones"), since moving it would break the program.

So the stub's segment goes right after the loaded part (the cut), and the original's
tail, from the cut to its end, moves after the stub, byte for byte, by a distance that
keeps every section in it aligned: its sections keep their content, their offsets
grow by that distance.  The restore record says where the tail went (record.FACT_MOVED),
which is all `restore` needs to put it back.

Nothing moves where the file does not have that shape (a section across the cut, a
loaded section after it, a segment naming bytes after it), nor where there is no tail:
the stub is then appended at the end, as it was in every file before patches moved the
tail (those files are still recognised: plan_patch's `stub_at_end`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..elf.structs import SHF_ALLOC, SHT_NOBITS

MAX_TAIL_ALIGN = 1 << 16  # a section asking for more is no debug section: nothing moves


@dataclass(frozen=True)
class Tail:
    """The part of the original that is not loaded: `size` bytes from `cut`, whose
    sections need the distance they move to be a multiple of `align`."""

    cut: int
    size: int
    align: int

    def placed_after(self, end: int) -> int:
        """Where the tail goes: the first offset from `end` at the same distance from
        `cut` modulo `align`."""
        return end + (self.cut - end) % self.align


def tail_of(base) -> Tail | None:
    """The tail of the unpatched file `base` that a patch moves, None if nothing moves."""
    ends = [s.offset + s.filesz for s in base.segments if s.filesz]
    cut = max(ends, default=0)
    if not ends or cut >= base.file_size:
        return None
    align = 8
    for section in base.layouts().shdr.parse_all(base.section_headers):
        if section.sh_type == SHT_NOBITS or section.sh_offset + section.sh_size <= cut:
            continue
        if section.sh_offset + section.sh_size > base.file_size:
            return None  # a section outside the file: nothing in such a file is moved
        if section.sh_offset < cut or section.sh_flags & SHF_ALLOC or section.sh_addralign > MAX_TAIL_ALIGN:
            return None  # across the cut, loaded after it, or an alignment no tail needs
        align = max(align, section.sh_addralign)
    return Tail(cut, base.file_size - cut, align)


def moved_offset(offset: int, moved_from: int | None, moved_to: int | None) -> int:
    """Where the byte the original had at `offset` is, in a file whose bytes from
    `moved_from` on were moved to `moved_to` (None: nothing moved)."""
    return offset if moved_from is None or offset < moved_from else moved_to + offset - moved_from
