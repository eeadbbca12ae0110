"""relinterp: make dynamic Linux executables find their loader relative to themselves.

    relinterp.patch(path, loader_rel="../lib/ld-musl.so", output=None) -> PatchResult
    relinterp.inspect(path) -> Inspection
    relinterp.restore(path, output=None) -> RestoreResult

Results are frozen dataclasses with `to_json()`; refusals raise RelinterpError
subclasses (relinterp.errors), the same the command line reports.
"""

from __future__ import annotations


__version__ = "0.1.0"
__all__ = ["patch", "inspect", "restore", "PatchOptions", "PatchResult", "RestoreResult", "Inspection",
           "RelinterpError", "__version__"]

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which costs `relinterp patch` the import of typing
if TYPE_CHECKING:
    from .api import PatchOptions, inspect, patch, restore
    from .errors import RelinterpError
    from .report import Inspection, PatchResult, RestoreResult

_API = ("patch", "inspect", "restore", "PatchOptions")
_REPORT = ("PatchResult", "RestoreResult", "Inspection")


def __getattr__(name: str):
    # Imported on first use, so that `import relinterp` and `relinterp --help` stay instant.
    if name in _API:
        from . import api

        return getattr(api, name)
    if name in _REPORT:
        from . import report

        return getattr(report, name)
    if name == "RelinterpError":
        from .errors import RelinterpError

        return RelinterpError
    raise AttributeError(f"module 'relinterp' has no attribute {name!r}")
