"""The bytes of the loader a patched program carries in its own file (patch
--embed-loader), where its record says they are."""

from __future__ import annotations

import os

from .model import Executable
from .regular import reading


def embedded_loader_bytes(exe: Executable, source=None) -> bytes | None:
    """The loader's file as `exe` holds it, read from `source` (the file open) or else from
    its path; None for a program that finds its loader at run time (or is not patched).
    OSError if the file cannot be read."""
    record = exe.patch.config.embedded if exe.patch is not None else None
    if record is None:
        return None
    with reading(exe.path if source is None else source) as stream:
        return os.pread(stream.fileno(), record.size, record.offset)
