"""`relinterp ldd`: the libraries a program would load, found by *its* loader's rules,
without running anything.

For a patched program the loader is the one its stub would map: the first recorded
candidate that exists (`$ORIGIN` is the program's directory, symbolic links resolved, as
/proc/self/exe gives it).  Otherwise it is PT_INTERP.  The search is that loader's
(relinterp.loaders: musl's or glibc's rules, RPATH/RUNPATH with `$ORIGIN`, the path
file or ld.so.cache), walked as relinterp.loaders.closure walks it.  glibc's `ldd`
runs the program with its loader; this reads files only (not even the loader runs, so
glibc's `$LIB`/`$PLATFORM` and hardware-capability directories are not expanded).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import __version__
from .elf.executable import read_executable
from .elf.linked import read_linked_object
from .errors import EXIT_FAILED, EXIT_NOTHING_TO_DO, EXIT_OK, NothingToPatchError, RelinterpError
from .loaders.closure import FILE, LOADER, MISSING, Resolution, resolve_closure
from .loaders.rules import loader_family, loader_rules

JSON_SCHEMA = 1


@dataclass(frozen=True)
class Loader:
    path: str | None  # the file the program would start with; None when none exists
    source: str  # "candidate $ORIGIN/...", "candidate /abs", or "PT_INTERP"
    tried: tuple[str, ...]  # the paths looked at, in order
    family: str | None  # MUSL or GLIBC, None when its rules are unknown


@dataclass(frozen=True)
class LibraryList:
    program: str
    patched: bool
    loader: Loader
    resolutions: tuple[Resolution, ...]  # every NEEDED name of every loaded object, load order

    @property
    def missing(self) -> bool:
        return self.loader.path is None or any(r.kind == MISSING for r in self.resolutions)

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.missing else EXIT_OK

    def to_json(self) -> dict:
        loader = self.loader
        return {
            "path": self.program, "patched": self.patched,
            "loader": {"path": loader.path, "source": loader.source, "tried": list(loader.tried),
                       "family": loader.family},
            "libraries": [{"name": r.name, "needed_by": r.needed_by, "kind": r.kind, "path": r.path,
                           "searched": list(r.searched)} for r in self.resolutions],
            "missing": sorted({r.name for r in self.resolutions if r.kind == MISSING}),
        }


def list_libraries(path: str) -> LibraryList:
    """The loader and libraries of the program at `path`; RelinterpError for a file
    that is not a dynamic program (NothingToPatchError for a static one)."""
    exe = read_executable(path)
    program = read_linked_object(path)
    if exe.elf_type not in ("ET_EXEC", "ET_DYN") or (exe.patch is None and exe.interp is None):
        if exe.elf_type == "ET_EXEC" or exe.pie:
            raise NothingToPatchError(path, "not a dynamic executable (static): it loads no library")
        raise RelinterpError(path, f"not a program (ELF type {exe.elf_type}{', no PT_INTERP' * (exe.elf_type == 'ET_DYN')})")
    loader = _find_loader(path, exe)
    if loader.path is None or loader.family is None:
        return LibraryList(path, exe.patch is not None, loader, ())
    loader_file = read_linked_object(loader.path)
    rules = loader_rules(loader.family, loader.path if exe.patch is not None else exe.interp, loader_file,
                         ask_loader=False)
    closure = resolve_closure(program, rules)
    return LibraryList(path, exe.patch is not None, loader, tuple(closure.resolutions))


def _find_loader(path: str, exe) -> Loader:
    if exe.patch is None:
        tried, source = (exe.interp,), "PT_INTERP"
    else:
        origin = os.path.dirname(os.path.realpath(path))
        tried = tuple(os.path.normpath(os.path.join(origin, c)) for c in exe.patch.config.candidates)
        source = "candidate"
    found = next((t for t in tried if os.path.isfile(t)), None)
    if found is None:
        return Loader(None, source, tried, None)
    if source == "candidate":
        candidate = exe.patch.config.candidates[tried.index(found)]
        source = f"candidate {candidate if os.path.isabs(candidate) else '$ORIGIN/' + candidate}"
    try:
        family = loader_family(read_linked_object(found))
    except RelinterpError:
        family = None
    return Loader(os.path.abspath(found), source, tried, family)


def text_lines(result: LibraryList, verbose: bool) -> list[str]:
    """ldd's shape without addresses: `name => path`, one line per object; with
    `verbose`, lddtree's: the program, then each object under the one needing it."""
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


def document(results: list, exit_code: int) -> dict:
    """The --json document: the envelope the other commands use, one entry per program."""
    return {"relinterp": __version__, "schema": JSON_SCHEMA, "command": "ldd",
            "files": [r.to_json() if isinstance(r, LibraryList) else
                      {"path": r.path, "error": {"kind": r.kind, "message": str(r), "exit_code": r.exit_code}}
                      for r in results], "exit_code": exit_code}


def exit_status(results: list) -> int:
    """EXIT_FAILED if anything is missing or was refused; EXIT_NOTHING_TO_DO if every
    program is static; else EXIT_OK."""
    codes = {r.exit_code for r in results}
    if codes - {EXIT_OK, EXIT_NOTHING_TO_DO}:
        return EXIT_FAILED
    return EXIT_NOTHING_TO_DO if codes == {EXIT_NOTHING_TO_DO} else EXIT_OK
