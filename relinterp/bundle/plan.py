"""`relinterp bundle`: plan a release tree (which file goes where, which file needs a
search path), refusing with every problem at once; relinterp.bundle.assemble then builds
the tree the plan describes.

The tree: programs in BIN_DIR, every library and the loader in LIB_DIR.  Libraries keep
the name the loader looks for (the NEEDED name, which is normally the SONAME), as real
files; a file reached under a second name gets a symbolic link.  The loader is one file
named as the programs' PT_INTERP names it (ld-musl-ARCH.so.1, ld-linux-x86-64.so.2).
musl's libc.so is its loader and needs no copy; glibc's libc.so.6 is a library like the
others, and must come from the loader's build (relinterp.linkcheck).

How the libraries are found in LIB_DIR: musl searches the RPATH/RUNPATH of every object up
the needed-by chain, so the programs' list is enough.  glibc passes only DT_RPATH along
the chain (a library's DT_RUNPATH serves that library alone, the program's DT_RUNPATH
only its own NEEDED names), so the programs get DT_RPATH, and a library with a DT_RUNPATH
of its own gets LIB_DIR added to it.

With a sysroot (programs for another machine, relinterp.loaders.sysroot) the loader and
the libraries are found there as the target's loader would find them, after
--library-path; a file found outside it is refused by name.  The loader keeps the name
the programs' PT_INTERP gives it; --loader only says which file to ship.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..loaders.closure import FILE, Closure, resolve_closure
from ..elf.linked import LinkedObject, read_linked_object
from ..errors import (BundleError, LoaderChoiceError, MissingLibraryError, ModifiedError, NotExecutableError,
                      OptionError, OutsideSysrootError, RelinterpError, TreeConflictError, UnsupportedError)
from ..loaders.family import GLIBC, MUSL, UNKNOWN, libc_family
from ..loaders.linkcheck import link_problems, machine_problem, relr_problem
from ..loaders.rules import loader_family, loader_rules
from ..loaders.musl import musl_version
from ..elf.searchlist import RPATH
from ..loaders.searchpath import SearchPathChange, current_tag, plan_search_path
from ..loaders.sysroot import HOST, Sysroot
from ..rewrite.patchable import check_patchable
from ..rewrite.stub import stub_for
from ..sbom import SBOM_NAME

PROGRAM, LIBRARY, LOADER_FILE, ALIAS = "program", "library", "loader", "alias"
GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class BundleOptions:
    lib_dir: str = "lib"
    bin_dir: str = "bin"
    loader: str | None = None  # the loader to ship; default: the programs' PT_INTERP
    include: tuple[str, ...] = ()  # libraries only dlopen()ed: names, paths or globs
    exclude: tuple[str, ...] = ()  # globs of NEEDED names left to the target system
    library_path: tuple[str, ...] = ()  # searched first, as LD_LIBRARY_PATH would be
    sysroot: str | None = None  # the target's files, at their paths (None: this machine's)
    embed_loader: bool = False  # the loader goes into each program (patch --embed-loader), not into LIB_DIR

    @property
    def root(self) -> Sysroot:
        return Sysroot.at(self.sysroot) if self.sysroot else HOST


@dataclass(frozen=True)
class TreeFile:
    dest: str  # path inside the tree
    role: str  # PROGRAM, LIBRARY, LOADER_FILE or ALIAS
    source: str | None = None  # the file whose bytes it gets (the input as given)
    link: str | None = None  # ALIAS: what the symbolic link says
    search_path: SearchPathChange | None = None  # None: RPATH/RUNPATH left as they are
    loader_rel: str | None = None  # PROGRAM: the loader, relative to the program's directory
    embed_loader: str | None = None  # PROGRAM: the loader file embedded in it instead
    executable: bool = False


@dataclass(frozen=True)
class LoaderChoice:
    file: str  # the file shipped (symlinks resolved)
    known_as: str  # the path the loader is known by (PT_INTERP, or --loader on this machine)
    name: str  # its name in LIB_DIR: as the programs' PT_INTERP names it
    family: str  # MUSL or GLIBC
    object: LinkedObject  # the file, as read


@dataclass(frozen=True)
class BundlePlan:
    output: str
    options: BundleOptions
    files: tuple[TreeFile, ...]
    loader: str | None  # the loader file shipped (symlinks resolved)
    musl_version: tuple[int, int, int] | None
    family: str | None = None  # MUSL or GLIBC: whose loader; None for static programs only
    closures: dict[str, Closure] = field(default_factory=dict)


def plan_bundle(apps: Sequence[str], output: str, options: BundleOptions = BundleOptions(),
                files_known: Callable[[list[str]], None] | None = None) -> BundlePlan:
    """Decide the whole tree, or raise BundleError listing every problem found.  `files_known`
    is given the files the tree will be made of as soon as they are known, before the checks
    that take most of the planning's time (bundle's SBOM asks the package database then)."""
    problems: list[RelinterpError] = []
    _check_output(output, options, problems)
    programs = [obj for obj in (_read_program(app, problems) for app in apps) if obj is not None]
    dynamic = [p for p in programs if p.interp is not None]
    loader = _choose_loader(dynamic, options, problems) if dynamic else None
    _raise_if(problems, output)
    closures = _closures(dynamic, loader, options, problems) if loader else {}
    if files_known is not None and not problems:
        files_known([p.path for p in programs] + [o.path for c in closures.values() for o in c.objects[1:]] +
                    ([loader.file] if loader else []))
    files = _place(programs, closures, loader, options, problems)
    version = musl_version(loader.file) if loader and loader.family == MUSL else None
    _check_objects(closures, loader, version, problems)
    _raise_if(problems, output)
    return BundlePlan(output=output, options=options, files=tuple(files), loader=loader.file if loader else None,
                      musl_version=version, family=loader.family if loader else None, closures=closures)


def _raise_if(problems: list[RelinterpError], output: str) -> None:
    if problems:
        raise BundleError(output, problems)


def _check_output(output: str, options: BundleOptions, problems: list) -> None:
    for name, value in (("--lib-dir", options.lib_dir), ("--bin-dir", options.bin_dir)):
        norm = os.path.normpath(value)
        if os.path.isabs(value) or norm in (".", "..") or norm.startswith("../"):  # "" is "." too
            problems.append(OptionError(value or "''", f"{name} must be a directory inside the tree"))
    if not os.path.lexists(output):
        return
    if os.path.islink(output) or not os.path.isdir(output):
        problems.append(TreeConflictError(output, "exists and is not a directory: not replacing it"))
        return
    ours = {os.path.normpath(d).split("/")[0] for d in (options.lib_dir, options.bin_dir)} | {SBOM_NAME}
    others = sorted(set(os.listdir(output)) - ours)
    if others:
        shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        problems.append(TreeConflictError(output, f"exists and holds more than a bundle ({shown}): not replacing "
                                               "it; remove it or choose another directory"))


def _read_program(app: str, problems: list) -> LinkedObject | None:
    try:
        obj = read_linked_object(app)
    except RelinterpError as error:
        problems.append(error)
        return None
    if not obj.is_program:
        problems.append(NotExecutableError(app, f"not an executable (ELF type {obj.elf_type}, no PT_INTERP)"))
    elif obj.patched and obj.interp is None:
        problems.append(ModifiedError(app, "patched, then changed (stripped?): bundle the original program"))
    elif obj.interp is not None and libc_family(obj.interp) == UNKNOWN:
        problems.append(UnsupportedError(app, f"not a musl or glibc program (PT_INTERP {obj.interp}): bundle "
                                              "knows the search rules of those two loaders only"))
    elif obj.interp is not None and not _patchable(obj, problems):
        pass
    else:
        return obj
    return None


def _patchable(obj: LinkedObject, problems: list) -> bool:
    """Whether relinterp can patch the program (its original): asked now, so that the
    refusal comes before anything is written, by the program's name."""
    model = obj.model.unpatched
    try:
        check_patchable(model, stub_for(model.machine, model.elfclass, model.little_endian))
    except RelinterpError as error:
        problems.append(error)
        return False
    return True


def _choose_loader(programs: list[LinkedObject], options: BundleOptions, problems: list) -> LoaderChoice | None:
    """One loader for every program: --loader, or the file their PT_INTERP names."""
    names = {os.path.basename(p.interp) for p in programs}
    files = {os.path.realpath(options.root.locate(p.interp)) for p in programs}
    families = {libc_family(p.interp) for p in programs}
    if len(families) > 1:
        problems.append(LoaderChoiceError(programs[0].path, "musl and glibc programs cannot share one loader: "
                                                         "bundle them into two trees"))
        return None
    if options.loader is None and len(files) > 1:
        problems.append(LoaderChoiceError(programs[0].path, f"the programs use different loaders "
                                                         f"({', '.join(sorted(files))}): pass --loader"))
        return None
    known_as = programs[0].interp if options.sysroot or not options.loader else options.loader
    source = os.path.realpath(options.loader or options.root.locate(known_as))
    if len(names) > 1:
        problems.append(LoaderChoiceError(programs[0].path, f"the programs name different loaders "
                                                         f"({', '.join(sorted(names))})"))
    try:
        loader = read_linked_object(source)
    except RelinterpError as error:
        hint = "" if options.sysroot or options.loader else " (built against a sysroot? pass --sysroot DIR)"
        problems.append(LoaderChoiceError(known_as, f"loader: {error.reason}{hint}"))
        return None
    family = families.pop()
    if loader.abi != programs[0].abi or loader_family(loader) != family:
        problems.append(LoaderChoiceError(known_as, f"not a {family} loader for {programs[0].machine} "
                                                 f"({programs[0].elfclass}-bit)"))
        return None
    return LoaderChoice(source, known_as, os.path.basename(programs[0].interp), family, loader)


def _closures(programs: list[LinkedObject], loader: LoaderChoice, options: BundleOptions, problems: list) -> dict:
    rules = loader_rules(loader.family, loader.known_as, loader.object, library_path=options.library_path,
                         sysroot=options.root)
    dlopen = _expand_includes(options.include, problems)
    closures = {}
    for index, program in enumerate(programs):
        closure = resolve_closure(program, rules, dlopen=dlopen if index == 0 else (), excluded=options.exclude)
        closures[program.path] = closure
        for r in closure.missing:
            where = f"; searched {', '.join(r.searched)}" if r.searched else ""
            why = f"--include {r.name}" if r.dlopen else f"{r.name}"
            by = "for dlopen" if r.dlopen else f"needed by {r.needed_by}"
            problems.append(MissingLibraryError(program.path, f"{why} not found ({by}{where})"))
        problems += [OutsideSysrootError(r.path, f"{r.name} (needed by {r.needed_by}): "
                                                 f"{options.root.why_outside(r.path, r.searched[0])}")
                     for r in closure.outside]
    return closures


def _expand_includes(include: Sequence[str], problems: list) -> list[str]:
    """A bare name stays a name (searched like dlopen(name)); a glob becomes its matches."""
    names = []
    for item in include:
        if not item:
            problems.append(OptionError("''", "--include: an empty name"))
        elif GLOB_CHARS & set(item):
            matches = sorted(glob.glob(item))
            if not matches:
                problems.append(MissingLibraryError(item, "--include: no file matches"))
            names += [m if "/" in m else f"./{m}" for m in matches]
        else:
            names.append(item)
    return names


def _place(programs, closures: dict, loader: LoaderChoice | None, options: BundleOptions,
           problems: list) -> list[TreeFile]:
    lib_dir, bin_dir = os.path.normpath(options.lib_dir), os.path.normpath(options.bin_dir)
    files: dict[str, TreeFile] = {}
    by_source: dict[str, str] = {}  # real file -> where it went
    loader_dest = os.path.join(lib_dir, loader.name) if loader else None
    embed = loader.file if loader is not None and options.embed_loader else None
    if loader is not None and embed is None:
        files[loader_dest] = TreeFile(loader_dest, LOADER_FILE, source=loader.file, executable=True)
        by_source[loader.file] = loader_dest
    for program in programs:
        dest = os.path.join(bin_dir, os.path.basename(program.path))
        if dest in files:
            problems.append(TreeConflictError(program.path, f"another program is also named {dest}"))
            continue
        closure = closures.get(program.path)
        needs_libs = closure is not None and (bool(closure.libraries()) or bool(options.include))
        rel = os.path.relpath(loader_dest, bin_dir) if closure is not None and embed is None else None
        tag = RPATH if loader is not None and loader.family == GLIBC and closure is not None else None
        change = plan_search_path(program, dest, lib_dir if needs_libs else None, tag)
        files[dest] = TreeFile(dest, PROGRAM, source=program.path, search_path=change, loader_rel=rel,
                               embed_loader=embed if closure is not None else None, executable=True)
    glibc = loader is not None and loader.family == GLIBC
    for closure in closures.values():
        for obj in closure.objects[1:]:
            _place_library(obj, closure, lib_dir, files, by_source, problems, glibc)
    return [files[k] for k in sorted(files)]


def _place_library(obj: LinkedObject, closure: Closure, lib_dir: str, files: dict, by_source: dict,
                   problems: list, glibc: bool) -> None:
    """Put `obj` in lib_dir under each name it was found by (a link for the second one)."""
    real = os.path.realpath(obj.path)
    for r in closure.resolutions:
        if r.kind != FILE or os.path.realpath(r.path) != real:
            continue
        if "/" in r.name and not r.dlopen:
            problems.append(UnsupportedError(r.needed_by, f"NEEDED {r.name} is a path: it cannot move with the tree"))
            continue
        dest = os.path.join(lib_dir, os.path.basename(r.name))
        known = files.get(dest)
        if known is not None and known.source is not None and os.path.realpath(known.source) != real:
            problems.append(TreeConflictError(dest, f"two different files for one name: {known.source} "
                                                 f"and {obj.path}"))
        elif known is None and real in by_source:
            link = os.path.relpath(by_source[real], os.path.dirname(dest))
            files[dest] = TreeFile(dest, ALIAS, link=link)
        elif known is None:
            by_source[real] = dest
            files[dest] = TreeFile(dest, LIBRARY, source=obj.path, search_path=_library_list(obj, dest, lib_dir, glibc),
                                   executable=bool(os.stat(real).st_mode & 0o111))


def _library_list(obj: LinkedObject, dest: str, lib_dir: str, glibc: bool) -> SearchPathChange | None:
    """A library needs no list of its own where the programs' is passed on to it (musl:
    every list; glibc: RPATH).  Under glibc a DT_RUNPATH of its own stops that, so one that
    stays gets LIB_DIR too; either way the list keeps its kind (patchelf would turn an RPATH
    into a RUNPATH)."""
    if not glibc:
        return plan_search_path(obj, dest, None)
    own_runpath = obj.runpath is not None and bool(obj.needed)
    return plan_search_path(obj, dest, lib_dir if own_runpath else None, current_tag(obj))


def _check_objects(closures: dict, loader: LoaderChoice | None, version, problems: list) -> None:
    """Every file must suit the loader: same machine, no format it cannot apply, and under
    glibc one build of glibc and every symbol version found."""
    seen, reported = set(), set()
    for closure in closures.values():
        if loader is not None and loader.family == GLIBC:
            for problem in link_problems(closure, loader.file):
                if problem not in reported:
                    reported.add(problem)
                    problems.append(UnsupportedError(*problem))
        for obj in closure.objects:
            if obj.path in seen:
                continue
            seen.add(obj.path)
            mismatch = machine_problem(obj, closure.program, "the program's")
            if mismatch:
                problems.append(UnsupportedError(obj.path, f"machine {mismatch}"))
            relr = relr_problem(obj, version, loader.file) if loader.family == MUSL else None
            if relr:
                problems.append(UnsupportedError(obj.path, relr))

