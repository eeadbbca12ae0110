"""The loader a patched program carries in its own file (patch --embed-loader), as a
file the loaders' rules can read: its bytes copied to a temporary file for as long as
the caller needs them (they read loaders by path, as they read any library)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from ..elf.embedded import embedded_loader_bytes
from ..elf.model import Executable
from .musl import musl_arch_in

EMBEDDED = "embedded in the program"  # how ldd and verify name where the loader is


@contextmanager
def embedded_loader_file(exe: Executable) -> Iterator[tuple[str, str | None]]:
    """A temporary file holding the loader `exe` carries (an OSError if it cannot be read),
    and musl's name for its machine, which names its path file (etc/ld-musl-ARCH.path):
    the name musl's loader knows itself by is empty."""
    data = embedded_loader_bytes(exe)
    assert data is not None
    fd, path = tempfile.mkstemp(prefix="relinterp-embedded-loader-")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        yield path, musl_arch_in(data)
    finally:
        os.unlink(path)
