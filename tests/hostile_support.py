"""Hostile inputs made from real programs: one field of a built program changed, found
with the fuzzer's own struct-only reader (bench/fuzzing/layout.py), so that no test sees
the file through the reader it tests."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from fuzzing.layout import PHDR, PT_DYNAMIC, PT_INTERP, PT_LOAD, SHDR, Field, Layout  # noqa: E402

__all__ = ["PT_DYNAMIC", "PT_INTERP", "PT_LOAD", "SHDR", "Layout", "Edit", "copied"]
PT_NOTE = 4
DT_NULL, DT_STRTAB, DT_STRSZ, DT_RUNPATH = 0, 5, 10, 29
SHT_SYMTAB = 2


class Edit:
    """A copy of a program, its bytes changed in memory, then written back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = bytearray(path.read_bytes())

    @property
    def layout(self) -> Layout:
        return Layout(self.data)

    def put(self, field: Field, value: int) -> Edit:
        self.layout.write(field, value)
        return self

    def header(self, name: str, value: int) -> Edit:
        return self.put(next(f for f in self.layout.header_fields() if f.name == name), value)

    def segment_entry(self, kind: int, nth: int = 0) -> int:
        return self.layout.segments_of(kind)[nth]

    def segment(self, kind: int, name: str, value: int, nth: int = 0) -> Edit:
        fields = self.layout.fields_at(PHDR, self.segment_entry(kind, nth))
        return self.put(next(f for f in fields if f.name == name), value)

    def copy_entry(self, source: int, target: int) -> Edit:
        """Program header entry `target` becomes a copy of entry `source` (file offsets)."""
        size = 56 if self.layout.bits == 64 else 32
        self.data[target : target + size] = self.data[source : source + size]
        return self

    def dynamic(self, tag: int) -> tuple[Field, Field]:
        """The (d_tag, d_val) fields of the first entry with `tag`."""
        layout = self.layout
        return next(layout.dynamic_fields(at) for at in layout.dynamic_entries()
                    if layout.read(layout.dynamic_fields(at)[0]) == tag)

    def config(self, name: str, value: int) -> Edit:
        return self.put(next(f for f in self.layout.config_fields() if f.name == name), value)

    def append_mapped(self, data: bytes) -> tuple[int, int]:
        """Append `data` to the file and stretch the last PT_LOAD over it: (its file
        offset, its address)."""
        at = self.segment_entry(PT_LOAD, -1)
        load = self.layout.segment(at)
        offset = len(self.data)
        self.data += data
        filesz = offset + len(data) - load["p_offset"]
        self.segment(PT_LOAD, "p_filesz", filesz, nth=-1).segment(PT_LOAD, "p_memsz", filesz, nth=-1)
        return offset, load["p_vaddr"] + offset - load["p_offset"]

    def save(self) -> Path:
        self.path.write_bytes(self.data)
        return self.path


def copied(source: Path, target: Path) -> Edit:
    shutil.copy2(source, target)
    return Edit(target)
