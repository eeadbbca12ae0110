"""`relinterp bundle`: plan a release tree (which file goes where, which file needs a
search path), refusing with every problem at once; relinterp.bundle.assemble then builds
the tree the plan describes.

The tree: the programs in BIN_DIR (or, for an install prefix, every file where it is:
relinterp.bundle.tree), every library from outside and the loader in LIB_DIR.  Libraries
keep the name the loader looks for (the NEEDED name, which is normally the SONAME), as
real files; a file reached under a second name gets a symbolic link.  The loader is one
file named as the programs' PT_INTERP names it (ld-musl-ARCH.so.1, ld-linux-x86-64.so.2).
musl's libc.so is its loader and needs no copy; glibc's libc.so.6 is a library like the
others, and must come from the loader's build (relinterp.loaders.linkcheck).  A glibc
tree also gets what glibc loads by name (relinterp.bundle.byname).

How the libraries are found: each ELF file of the tree searches the directories its
needs landed in (relinterp.bundle.placement).  musl searches the RPATH/RUNPATH of every
object up the needed-by chain, so a library from outside needs no list of its own.
glibc passes only DT_RPATH along the chain (a library's DT_RUNPATH serves that library
alone, the program's DT_RUNPATH only its own NEEDED names), so the programs get DT_RPATH,
and a library with a DT_RUNPATH of its own gets LIB_DIR added to it.

With a sysroot (programs for another machine, relinterp.loaders.sysroot) the loader and
the libraries are found there as the target's loader would find them, after
--library-path; a file found outside it is refused by name.  The loader keeps the name
the programs' PT_INTERP gives it; --loader only says which file to ship.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..elf.linked import LinkedObject, read_linked_object
from ..errors import (BundleError, LoaderChoiceError, NotExecutableError, OptionError, RelinterpError,
                      TreeConflictError, UnsupportedError)
from ..loaders.closure import Closure
from ..loaders.family import GLIBC, MUSL, libc_family
from ..loaders.linkcheck import link_problems, machine_problem, relr_problem
from ..loaders.musl import musl_version
from ..loaders.rules import loader_family
from ..loaders.sysroot import HOST, Sysroot
from .additions import ARGUMENT, DIRECTORY as ADDED_DIRECTORY, SHARED_OBJECT, Addition, check_additions
from .closures import resolve_closures
from .inputs import Input, entry_for, read_inputs
from .placement import Layout, place_files
from .record import replace_problem
from .treefile import ALIAS, DIRECTORY, LIBRARY, PROGRAM, TreeFile, inside_tree
from .walk import StageEntry

FilesKnown = Callable[[list[str]], None]  # told the files a tree will be made of, once they are known


@dataclass(frozen=True)
class BundleOptions:
    lib_dir: str = "lib"
    bin_dir: str = "bin"
    loader: str | None = None  # the loader to ship; default: the programs' PT_INTERP
    include: tuple[str, ...] = ()  # libraries only dlopen()ed: names, paths or globs
    exclude: tuple[str, ...] = ()  # globs of NEEDED names left to the target system
    library_path: tuple[str, ...] = ()  # searched first, as LD_LIBRARY_PATH would be
    additions: tuple[Addition, ...] = ()  # more files for the tree (relinterp.bundle.additions)
    glibc_by_name: bool = True  # glibc trees get libgcc_s.so.1 and libc's own NSS modules
    copy_outside_links: bool = False  # an install prefix's links leaving it become copies
    sysroot: str | None = None  # the target's files, at their paths (None: this machine's)
    embed_loader: bool = False  # the loader goes into each program (patch --embed-loader), not into LIB_DIR

    @property
    def root(self) -> Sysroot:
        return Sysroot.at(self.sysroot) if self.sysroot else HOST


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
    stage: str | None = None  # the install prefix the tree mirrors; None: programs given one by one
    from_target: tuple = ()  # paths a traced run used that the tree does not hold (bundle.traced.TargetFile)


def plan_bundle(apps: Sequence[str], output: str, options: BundleOptions = BundleOptions(),
                files_known: FilesKnown | None = None) -> BundlePlan:
    """Decide the whole tree for the programs `apps`, placed in BIN_DIR, or raise
    BundleError listing every problem found.  `files_known` is given the files the tree
    will be made of as soon as they are known, before the checks that take most of the
    planning's time (bundle's SBOM asks the package database then)."""
    problems: list[RelinterpError] = []
    check_output(output, options, problems)
    bin_dir = os.path.normpath(options.bin_dir)
    placed = [(entry_for(app, os.path.join(bin_dir, os.path.basename(app))), ARGUMENT, None) for app in apps]
    return plan_placed(placed, output, options, problems, files_known=files_known)


def check_output(output: str, options: BundleOptions, problems: list) -> None:
    for name, value in (("--lib-dir", options.lib_dir), ("--bin-dir", options.bin_dir)):
        if not inside_tree(value):
            problems.append(OptionError(value or "''", f"{name} must be a directory inside the tree"))
    problem = replace_problem(output, (options.lib_dir, options.bin_dir))
    if problem is not None:
        problems.append(problem)


def plan_placed(placed: list, output: str, options: BundleOptions, problems: list, stage: str | None = None,
                files_known: FilesKnown | None = None) -> BundlePlan:
    """The tree of the files `placed` ((entry, how it came in, role wanted) each) with
    the additions, every library they need and the loader."""
    additions = check_additions(options.additions, problems)
    placed = placed + [(_addition_entry(a, options), a.found_by, a.role)
                       for a in additions if a.dest is not None or a.role != SHARED_OBJECT]
    inputs = _unique_places(read_inputs(placed, problems), problems)
    dynamic = [i.object for i in inputs if i.role == PROGRAM and i.dynamic]
    loader = _choose_loader(dynamic, options, problems) if dynamic else None
    if stage is not None and not problems and not any(i.role == PROGRAM for i in inputs):
        problems.append(NotExecutableError(stage, "no program in this install prefix: nothing to make relocatable"))
    elif not dynamic and any(i.role == LIBRARY for i in inputs):
        problems.append(UnsupportedError(stage or output, "shared objects but no dynamically linked program: the "
                                                          "loader to ship, and its rules, come from the programs"))
    _raise_if(problems, output)
    closures, found_by = {}, {}
    if loader is not None:
        closures, found_by = resolve_closures(dynamic, loader, inputs, additions, options, stage, problems)
    if files_known is not None and not problems:
        files_known([i.entry.source for i in inputs if i.role not in (ALIAS, DIRECTORY)] +
                    [o.path for c in closures.values() for o in c.objects[1:]] + ([loader.file] if loader else []))
    layout = Layout(os.path.normpath(options.lib_dir), _roots(stage))
    files = place_files(inputs, closures, loader, layout, found_by, problems, embed=options.embed_loader)
    version = musl_version(loader.file) if loader and loader.family == MUSL else None
    _check_objects(closures, loader, version, problems)
    _raise_if(problems, output)
    return BundlePlan(output=output, options=options, files=tuple(files[k] for k in sorted(files)),
                      loader=loader.file if loader else None, musl_version=version,
                      family=loader.family if loader else None, closures=closures, stage=stage)


def _raise_if(problems: list[RelinterpError], output: str) -> None:
    if problems:
        raise BundleError(output, problems)


def _addition_entry(addition: Addition, options: BundleOptions) -> StageEntry:
    """An addition at its place: `dest`, or a program without one in BIN_DIR."""
    dest = addition.dest or os.path.join(options.bin_dir, os.path.basename(addition.source))
    return entry_for(addition.source, dest, keep_mode=True, directory=addition.role == ADDED_DIRECTORY)


def _unique_places(inputs: list[Input], problems: list) -> list[Input]:
    """One file per place: a second one there is refused (the same file twice is kept once)."""
    kept: dict[str, Input] = {}
    for item in inputs:
        known = kept.get(item.entry.dest)
        if known is None:
            kept[item.entry.dest] = item
        elif os.path.realpath(known.entry.source) != os.path.realpath(item.entry.source):
            what = "program is also named" if item.found_by == ARGUMENT else "file is also placed at"
            problems.append(TreeConflictError(item.entry.source, f"another {what} {item.entry.dest}"))
    return list(kept.values())


def _roots(stage: str | None) -> tuple[str, ...]:
    if stage is None:
        return ()
    return tuple(dict.fromkeys((os.path.normpath(os.path.abspath(stage)), os.path.realpath(stage))))


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

