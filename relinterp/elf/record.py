"""relinterp's record in a patched file: the stub's config block, the one definition of
its layout (stub/config.h mirrors it).  It belongs to the file format, so it is read
with the rest of the file (relinterp.elf.executable) and written by relinterp.rewrite.

The patcher appends one segment to the program; its bytes are

    stub code | config block | candidates | restore record | trailer

with the loader embedded in the program (FLAG_EMBEDDED, relinterp.rewrite.embed), the
embedded record follows the config block: where the kernel maps the loader, and which
program header table the loader is given.

The stub finds the config block right after its own code (PC-relative).  Tools find it
from the trailer in the segment's last bytes, which says where the block starts.  The
restore record holds the original ELF header and program header table and the original
file size: with them `restore` gives back the input byte for byte.  After them come
tagged facts about the original (RestoreRecord.pack_facts): its digest, which proves a
restored file identical to it, what a later tool may change (PT_INTERP, NEEDED,
RUNPATH, RPATH), which names what differs when it is not, and where the part of the
original that is not loaded went (the patch moves it after the stub: rewrite/layout.py).
Records written before the facts existed end after the program headers (and zero
padding): they still restore.

All fields are fixed-width whatever the ELF class, in the patched file's byte order.
"""

from __future__ import annotations

import os
import struct
from collections import namedtuple
from dataclasses import dataclass, replace
from functools import lru_cache

from .structs import Layout

CONFIG_SCHEMA = 1
TRAILER_MAGIC = b"RELINTRP"
# The stub builds "$ORIGIN/candidate" in a 4096-byte buffer (PATH_SIZE in stub/stub.h);
# leave room for the program's directory.  It records why each of at most MAX_CANDIDATES
# failed, and reads no more.  Mirrored in stub/config.h; every constant there is compared
# with these by tests/integration/test_stub_blob.py.
MAX_CANDIDATE_BYTES = 1024
MAX_CANDIDATES = 16
ALIGN = 8

# `flags`: where the candidates came from, for tools; the stub does not read them.
FLAG_DERIVED = 0x1  # derived from DT_RUNPATH/DT_RPATH
FLAG_SYSTEM_FALLBACK = 0x2  # the last candidate is the original PT_INTERP (--fallback-system)
# The one flag the stub reads: the loader is embedded, an EmbeddedLoader record follows the block.
FLAG_EMBEDDED = 0x4
CONFIG_FLAGS = {"FLAG_DERIVED": FLAG_DERIVED, "FLAG_SYSTEM_FALLBACK": FLAG_SYSTEM_FALLBACK,
                "FLAG_EMBEDDED": FLAG_EMBEDDED}

# (name, bits) in order; stub/config.h declares the same fields.
CONFIG_FIELDS = (
    ("config_vaddr", 64),
    ("entry", 64),
    ("dynamic", 64),  # PT_DYNAMIC's p_vaddr at patch time, for tools: the stub finds it via AT_PHDR
    ("flags", 32),
    ("ncandidates", 32),
    ("candidates", 32),
    ("candidates_size", 32),
    ("restore", 32),
    ("restore_size", 32),
)


# struct relinterp_embedded: addresses are link-time addresses of the program.
EMBEDDED_FIELDS = (
    ("base", 64),  # the loader's ELF header, its base (AT_BASE once the bias is added)
    ("entry", 64),  # the loader's entry point
    ("phdr", 64),  # the program header table the loader is given (AT_PHDR)
    ("phnum", 64),  # its entries (AT_PHNUM)
    ("program_phnum", 64),  # the entries of the program's own table as patched (e_phnum)
    ("offset", 64),  # where the loader's file lies in this file: for tools
    ("size", 64),  # its size: for tools
)

Trailer = namedtuple("Trailer", "magic config_offset schema")
EmbeddedLoader = namedtuple("EmbeddedLoader", [name for name, _ in EMBEDDED_FIELDS])
RestoreSizes = namedtuple("RestoreSizes", "original_size header_size phdrs_size")
Fact = namedtuple("Fact", "tag size")
ConfigFields = namedtuple("ConfigFields", [name for name, _ in CONFIG_FIELDS])


def _layout(record, fmt: str, little_endian: bool) -> Layout:
    """A fixed-width record of the config block, fields in the record's order."""
    return Layout(record, record._fields, fmt, little_endian)


@lru_cache(maxsize=None)
def config_struct(little_endian: bool) -> Layout:
    return _layout(ConfigFields, "".join("I" if bits == 32 else "Q" for _, bits in CONFIG_FIELDS), little_endian)


@lru_cache(maxsize=None)
def embedded_struct(little_endian: bool) -> Layout:
    return _layout(EmbeddedLoader, "Q" * len(EMBEDDED_FIELDS), little_endian)


@lru_cache(maxsize=None)
def trailer_struct(little_endian: bool) -> Layout:
    return _layout(Trailer, "8sII", little_endian)


@lru_cache(maxsize=None)
def restore_header_struct(little_endian: bool) -> Layout:
    return _layout(RestoreSizes, "QII", little_endian)


@lru_cache(maxsize=None)
def fact_struct(little_endian: bool) -> Layout:
    return _layout(Fact, "II", little_endian)


# Tags of the facts after the recorded program headers: u32 tag, u32 size, the bytes,
# zero padding to ALIGN.  A tag this version does not know is skipped.
FACT_SHA256 = 1  # the original file's digest (relinterp.rewrite.digest)
FACT_INTERP = 2  # the original PT_INTERP path
FACT_NEEDED = 3  # the original DT_NEEDED names, each NUL-terminated
FACT_RUNPATH = 4
FACT_RPATH = 5
FACT_MOVED = 6  # u64 from, u64 to: the original's bytes from `from` to its end are at `to` in the patched file


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % ALIGN)


@dataclass(frozen=True)
class RestoreRecord:
    """What the patch replaced: with it the original file comes back exactly."""

    original_size: int
    header: bytes  # the original ELF header
    phdrs: bytes  # the original program header table
    # Facts about the original; None (or empty) in records of older versions.
    sha256: bytes | None = None
    interp: str | None = None
    needed: tuple[str, ...] = ()
    runpath: str | None = None
    rpath: str | None = None
    moved_from: int | None = None  # the original's bytes from here on are at moved_to in the patched file
    moved_to: int | None = None

    def pack_facts(self, little_endian: bool) -> bytes:
        entry = fact_struct(little_endian)
        moved = None if self.moved_from is None else _moved_struct(little_endian).pack(self.moved_from, self.moved_to)
        facts = [(FACT_SHA256, self.sha256), (FACT_INTERP, _string(self.interp)),
                 (FACT_NEEDED, b"".join(_string(n) for n in self.needed) if self.needed else None),
                 (FACT_RUNPATH, _string(self.runpath)), (FACT_RPATH, _string(self.rpath)), (FACT_MOVED, moved)]
        return b"".join(_pad(entry.build(Fact(tag, len(data))) + data) for tag, data in facts if data is not None)

    def with_facts(self, data: bytes, little_endian: bool) -> RestoreRecord:
        """This record with the facts packed in `data` (pack_facts) added."""
        entry = fact_struct(little_endian)
        found: dict[int, bytes] = {}
        while len(data) >= entry.size:
            fact = entry.parse(data)
            if fact.tag == 0:  # the zero padding of a record without facts
                break
            end = entry.size + fact.size
            found[fact.tag] = data[entry.size : end]
            data = data[end + -end % ALIGN :]
        moved = _moved_struct(little_endian)
        moved_from, moved_to = moved.unpack(found[FACT_MOVED]) if len(found.get(FACT_MOVED, b"")) == moved.size \
            else (None, None)
        strings = {tag: [os.fsdecode(s) for s in found[tag].split(b"\0")[:-1]] for tag in found
                   if tag not in (FACT_SHA256, FACT_MOVED)}
        first = {tag: names[0] if names else None for tag, names in strings.items()}
        return replace(self, sha256=found.get(FACT_SHA256), interp=first.get(FACT_INTERP),
                       needed=tuple(strings.get(FACT_NEEDED, ())), runpath=first.get(FACT_RUNPATH),
                       rpath=first.get(FACT_RPATH), moved_from=moved_from, moved_to=moved_to)


@lru_cache(maxsize=None)
def _moved_struct(little_endian: bool) -> struct.Struct:
    return struct.Struct("<QQ" if little_endian else ">QQ")


def _string(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text) + b"\0"


@dataclass(frozen=True)
class StubConfig:
    """What the stub reads at run time, and what `restore` needs."""

    entry: int
    dynamic: int
    candidates: tuple[str, ...]
    restore: RestoreRecord
    flags: int = 0
    embedded: EmbeddedLoader | None = None  # set with FLAG_EMBEDDED

    def pack(self, config_vaddr: int, config_offset: int, little_endian: bool) -> bytes:
        """The bytes from the config block to the end of the segment.

        config_offset is where the block starts within the segment (the stub's size),
        recorded in the trailer.
        """
        header = config_struct(little_endian)
        candidates = self._candidates()
        restore = _pad(
            restore_header_struct(little_endian).build(
                RestoreSizes(self.restore.original_size, len(self.restore.header), len(self.restore.phdrs))
            )
            + self.restore.header
            + self.restore.phdrs
        ) + self.restore.pack_facts(little_endian)
        embedded = b"" if self.embedded is None else embedded_struct(little_endian).build(self.embedded)
        candidates_at = header.size + len(embedded)
        restore_at = candidates_at + len(candidates)
        block = header.build(
            ConfigFields(
                config_vaddr=config_vaddr,
                entry=self.entry,
                dynamic=self.dynamic,
                flags=self.flags,
                ncandidates=len(self.candidates),
                candidates=candidates_at,
                candidates_size=len(candidates),
                restore=restore_at,
                restore_size=len(restore),
            )
        )
        trailer = trailer_struct(little_endian).build(
            Trailer(magic=TRAILER_MAGIC, config_offset=config_offset, schema=CONFIG_SCHEMA)
        )
        return block + embedded + candidates + restore + trailer

    def _candidates(self) -> bytes:
        return _pad(b"".join(os.fsencode(c) + b"\0" for c in self.candidates))

    @classmethod
    def unpack(cls, block: bytes, little_endian: bool) -> StubConfig:
        """Parse the bytes from the config block's start to the end of the segment."""
        fields = config_struct(little_endian).parse(block)
        names = block[fields.candidates : fields.candidates + fields.candidates_size]
        candidates = tuple(os.fsdecode(n) for n in names.split(b"\0")[: fields.ncandidates])
        rec = block[fields.restore : fields.restore + fields.restore_size]
        head = restore_header_struct(little_endian)
        sizes = head.parse(rec)
        body = rec[head.size :]
        restore = RestoreRecord(
            original_size=sizes.original_size,
            header=body[: sizes.header_size],
            phdrs=body[sizes.header_size : sizes.header_size + sizes.phdrs_size],
        )
        recorded = head.size + sizes.header_size + sizes.phdrs_size
        recorded += -recorded % ALIGN  # as _pad pads it, without making the bytes (the sizes are the file's)
        restore = restore.with_facts(rec[recorded:], little_endian)
        embedded = None
        if fields.flags & FLAG_EMBEDDED:
            embedded = embedded_struct(little_endian).parse(block, config_struct(little_endian).size)
        return cls(entry=fields.entry, dynamic=fields.dynamic, candidates=candidates,
                   restore=restore, flags=fields.flags, embedded=embedded)


def trailer_size() -> int:
    return trailer_struct(True).size
