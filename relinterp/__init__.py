"""relinterp: make dynamic Linux executables find their loader relative to themselves."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["patch", "restore", "PatchResult", "RelinterpError", "__version__"]


def __getattr__(name: str):
    # Imported on first use, so that `relinterp --help` stays instant.
    if name in ("patch", "restore", "PatchResult"):
        from . import api

        return getattr(api, name)
    if name == "RelinterpError":
        from .errors import RelinterpError

        return RelinterpError
    raise AttributeError(f"module 'relinterp' has no attribute {name!r}")
