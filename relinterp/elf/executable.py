"""Reading an ELF file into its model (relinterp.elf.model), with relinterp's record
when the file is one relinterp patched: the stub segment is a PT_LOAD ending with the
record's trailer (relinterp.elf.record).  The original the record describes is
modelled too, from the recorded headers laid over the file (relinterp.elf.overlay).
"""

from __future__ import annotations

import contextlib
import os
import struct
from dataclasses import replace

from ..errors import MalformedElfError, RelinterpError, UnsupportedError, unreadable
from .image import MemoryImage
from .model import Executable, Patch, Segment, parse_segments, read_at, read_model
from .overlay import OverlayView
from .record import CONFIG_SCHEMA, TRAILER_MAGIC, StubConfig, trailer_size, trailer_struct
from .regular import open_regular, reading

MAX_STUB_SEGMENT = 1 << 20  # larger segments are the program's own, not a stub's


@contextlib.contextmanager
def open_input(path: str):
    """The regular file at `path`, open for reading, for one run to read everything
    from (read_executable's `source`); one it cannot open is refused as
    read_executable refuses it."""
    try:
        stream = open_regular(path)
    except OSError as error:
        raise unreadable(path, error) from None
    with stream:
        yield stream


def read_executable(path: str | os.PathLike[str], source=None) -> Executable:
    """The model of the file at `path`, read from `source` when given (the file, open)."""
    path = os.fspath(path)
    try:
        with reading(path if source is None else source) as stream:
            exe = read_model(path, stream, os.fstat(stream.fileno()).st_size)
            patch = _read_patch(exe, stream) if exe.interp is None else None
            return exe if patch is None else replace(exe, patch=patch)
    except OSError as error:
        raise unreadable(path, error) from None
    except (struct.error, ValueError, KeyError) as error:
        raise MalformedElfError(path, f"relinterp record is corrupt ({error})") from None


def stub_segment(exe: Executable, stream) -> Segment | None:
    """The PT_LOAD holding relinterp's stub: the one whose bytes end with its trailer.
    It is the last entry as the patch wrote it, but a later tool may add entries after
    it or reorder the table (patchelf does), so every PT_LOAD is looked at, the one
    holding e_entry first."""
    tsize = trailer_size()
    loads = sorted(exe.loads(), key=lambda s: not s.vaddr <= exe.entry < s.vaddr + s.filesz)
    for segment in loads:
        if tsize <= segment.filesz <= MAX_STUB_SEGMENT and segment.offset + segment.filesz <= exe.file_size:
            if read_at(stream, segment.offset + segment.filesz - tsize, tsize)[:len(TRAILER_MAGIC)] == TRAILER_MAGIC:
                return segment
    return None


def find_stub_segment(exe: Executable) -> Segment | None:
    """stub_segment() of a file read earlier: relinterp's stub, even where the file is
    not patched any more (a tool put PT_INTERP back)."""
    try:
        with open(exe.path, "rb") as stream:
            return stub_segment(exe, stream)
    except OSError:
        return None


def _read_patch(exe: Executable, stream) -> Patch | None:
    segment = stub_segment(exe, stream)
    if segment is None:
        return None
    tsize = trailer_size()
    data = read_at(stream, segment.offset, segment.filesz)
    trailer = trailer_struct(exe.little_endian).parse(data[-tsize:])
    if trailer.schema != CONFIG_SCHEMA:
        raise UnsupportedError(exe.path, f"patched by another relinterp version (config schema "
                                         f"{trailer.schema}, this one reads {CONFIG_SCHEMA})")
    if trailer.config_offset >= len(data) - tsize:
        raise MalformedElfError(exe.path, "relinterp record is corrupt (config offset out of range)")
    config = StubConfig.unpack(data[trailer.config_offset : -tsize], exe.little_endian)
    _check_record(exe, config)
    recorded = parse_segments(exe.layouts(), config.restore.phdrs, exe.machine)
    return Patch(segment=segment, stub_code=data[: trailer.config_offset], config=config,
                 original=_original(exe, stream, config), original_segments=recorded,
                 original_interp=_original_interp(stream, config, recorded, exe.memory_image(segment)))


def _check_record(exe: Executable, config: StubConfig) -> None:
    """What the patch recorded has the shapes it wrote: addresses of the file's class and
    a whole ELF header.  (The program header table may have grown since: patchelf adds
    entries.)"""
    if max(config.entry, config.dynamic) >> exe.elfclass:
        raise MalformedElfError(exe.path, f"relinterp record is corrupt (entry {config.entry:#x}, dynamic "
                                          f"{config.dynamic:#x}: not {exe.elfclass}-bit addresses)")
    if len(config.restore.header) != len(exe.header):
        raise MalformedElfError(exe.path, f"relinterp record is corrupt (an ELF header of "
                                          f"{len(config.restore.header)} bytes recorded, {len(exe.header)} expected)")


def _original(exe: Executable, stream, config: StubConfig) -> Executable | None:
    """The file as the record says it was, if its recorded headers still describe it."""
    record = config.restore
    moves = {}
    if record.moved_from is not None:  # the original's tail, moved after the stub (rewrite/layout.py)
        if not record.moved_from <= record.original_size or record.moved_to + record.original_size - \
                record.moved_from > exe.file_size:
            return None
        moves = {record.moved_from: (record.moved_to, record.original_size - record.moved_from)}
    elif record.original_size > exe.file_size:
        return None
    phoff = exe.layouts().ehdr.parse(record.header).e_phoff  # the original's: with an embedded loader, not exe's
    view = OverlayView(stream, record.original_size, {0: record.header, phoff: record.phdrs}, moves)
    try:
        return read_model(exe.path, view, record.original_size)
    except RelinterpError:
        return None


def _original_interp(stream, config: StubConfig, recorded: tuple[Segment, ...], image: MemoryImage) -> str | None:
    """The original PT_INTERP path: the recorded fact, or in records without one, the
    bytes the patch left in place: `strip` may move them in the file but not in memory, so
    they are found by address.  (Where the file is still exactly what the patch made,
    relinterp.api reports the path its recorded headers give instead, which is what
    `restore` writes and what the recorded digest covers.)"""
    if config.restore.interp is not None:
        return config.restore.interp
    interp = next((s for s in recorded if s.type == "PT_INTERP"), None)
    if interp is None or interp.filesz == 0:
        return None
    raw = image.read(stream, interp.vaddr, interp.filesz)
    if len(raw) != interp.filesz:
        return None
    return os.fsdecode(raw[:-1]) if raw.endswith(b"\0") and b"\0" not in raw[:-1] else None
