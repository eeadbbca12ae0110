"""What `relinterp ldd` prints: ldd's shape (without addresses), lddtree's with -v, or
one versioned JSON document (schema shipped as relinterp/schema/ldd.schema.json)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import __version__
from ..loaders.closure import FILE, LOADER, MISSING, OUTSIDE

if TYPE_CHECKING:
    from ..errors import RelinterpError
    from ..loaders.closure import Resolution
    from ..loaders.libraries import LibraryList

LDD_SCHEMA = 1  # of ldd --json


def ldd_lines(result: LibraryList, verbose: bool) -> list[str]:
    """`name => path`, one line per object; with `verbose`, the program, then each
    object under the one needing it."""
    loader = result.loader
    if loader.path is None:
        return [f"\t{result.loader.source} => not found (tried {', '.join(loader.tried)})"]
    if loader.family is None:
        return [f"\t{loader.path} (loader, {loader.source}): not a musl or glibc loader; its search rules are "
                "unknown"]
    if verbose:
        return [f"{result.program} (loader {loader.path}, {loader.source})", *_tree(result)]
    lines, seen = [], set()
    for r in result.resolutions:
        if r.name not in seen:
            seen.add(r.name)
            lines.append(f"\t{r.name} => {_where(r, loader.path)}")
    return lines + [f"\t{loader.path} (loader, {loader.source})"]


def _where(r: Resolution, loader: str) -> str:
    if r.kind == LOADER:
        return f"{r.path or loader} (the loader)"
    if r.kind == OUTSIDE:
        return f"{r.path}: outside the sysroot (refused)"
    return r.path if r.kind == FILE else "not found"


def _tree(result: LibraryList) -> list[str]:
    children: dict[str, list[Resolution]] = {}
    for r in result.resolutions:
        children.setdefault(r.needed_by, []).append(r)
    lines, expanded = [], {result.program}

    def walk(needer: str, depth: int) -> None:
        for r in children.get(needer, ()):
            lines.append(f"{'    ' * depth}{r.name} => {_where(r, result.loader.path)}")
            if r.kind == FILE and r.path not in expanded:
                expanded.add(r.path)
                walk(r.path, depth + 1)

    walk(result.program, 1)
    return lines


def ldd_json(results: list[LibraryList | RelinterpError], exit_code: int) -> dict:
    """The --json document: the envelope the other commands use, one entry per program."""
    return {"relinterp": __version__, "schema": LDD_SCHEMA, "command": "ldd",
            "files": [_error_json(r) if isinstance(r, Exception) else _list_json(r) for r in results],
            "exit_code": exit_code}


def _list_json(result: LibraryList) -> dict:
    loader = result.loader
    return {
        "path": result.program, "patched": result.patched,
        "loader": {"path": loader.path, "source": loader.source, "tried": list(loader.tried),
                   "family": loader.family},
        "libraries": [{"name": r.name, "needed_by": r.needed_by, "kind": r.kind, "path": r.path,
                       "searched": list(r.searched)} for r in result.resolutions],
        "missing": sorted({r.name for r in result.resolutions if r.kind == MISSING}),
    }


def _error_json(error: RelinterpError) -> dict:
    return {"path": error.path, "error": {"kind": error.kind, "message": str(error), "exit_code": error.exit_code}}
