"""The bytes of the loader a patched program carries in its own file (patch
--embed-loader), where its record says they are."""

from __future__ import annotations

from .model import Executable
from .regular import open_regular


def embedded_loader_bytes(exe: Executable) -> bytes | None:
    """The loader's file as `exe` holds it; None for a program that finds its loader at
    run time (or is not patched).  OSError if the file cannot be read."""
    record = exe.patch.config.embedded if exe.patch is not None else None
    if record is None:
        return None
    with open_regular(exe.path) as stream:
        stream.seek(record.offset)
        return stream.read(record.size)
