"""`relinterp verify`: prove a tree needs nothing from the machine it lands on.

Static checks, with the tree as the whole world (anything outside it counts as absent):
- each program's loader: patched programs' candidates lie inside the tree, exist, and
  are a musl or glibc loader for the program's machine; an unpatched program's PT_INTERP
  is outside;
- every NEEDED name (of the programs, and of every library in a tree given as a
  directory, as if dlopen()ed) resolves inside the tree under the loader's rules
  (relinterp.loaders.musl, relinterp.loaders.glibc; for glibc without running anything from the tree, so
  `$LIB` and `$PLATFORM`, which only the loader knows, count as unresolvable);
- no RPATH/RUNPATH entry leaves the tree (absolute, relative to the working directory,
  or climbing out), no symbolic link leaves it or is absolute;
- every ELF file is for one machine; no file needs a relocation format its loader lacks;
  under glibc, the files link together (relinterp.linkcheck: one glibc build, symbol
  versions);
- a tree given as a directory matches its SBOM, where it has one (relinterp.verify.provenance).
With a command line to run, each program also runs in an empty root (relinterp.verify.sandbox).

The tree of a program given by itself is the smallest directory holding the program, its
loader candidates and the directories its `$ORIGIN` entries name.
"""

from __future__ import annotations

import errno
import os
import re
import shlex
from dataclasses import dataclass, field

from ..loaders.closure import FILE, MISSING, resolve_closure
from ..loaders.embedded import embedded_loader_file
from ..elf.linked import LinkedObject, is_debug_only, is_elf, read_linked_object
from ..errors import NotExecutableError, RelinterpError, SandboxUnavailableError, unreadable as read_error
from .emulator import Emulator, emulators_for
from .findings import Finding, relative as _rel
from .hostfiles import host_file_notes
from .loader import check_loader, embedded_loader
from .provenance import CHECK as SBOM_CHECK, sbom_problems
from ..loaders.family import GLIBC, MUSL
from ..loaders.linkcheck import link_problems, machine_problem, relr_problem
from ..loaders.rules import loader_rules
from ..elf.searchlist import expand_origin, origin_relative, other_tokens, split_list
from ..loaders.musl import musl_version
from ..loaders.searchpath import entry_in_tree
from ..loaders.sysroot import Sysroot, inside

TYPE_CHECKING = False  # as typing.TYPE_CHECKING: the sandbox's modules are imported only for a run
if TYPE_CHECKING:
    from .sandbox import RunResult

LOADER_TOKEN = re.compile(r"\$(\{(LIB|PLATFORM)\}|(LIB|PLATFORM)(?![A-Za-z0-9_]))")


@dataclass
class ProgramReport:
    path: str
    loader: str | None = None
    family: str | None = None  # MUSL or GLIBC: whose loader that is
    libraries: dict[str, str] = field(default_factory=dict)  # NEEDED name -> file in the tree
    findings: list[Finding] = field(default_factory=list)
    run: RunResult | None = None

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass
class TreeReport:
    target: str
    tree: str
    programs: list[ProgramReport] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # about the tree as a whole
    notes: list[Finding] = field(default_factory=list)  # worth knowing, not failures (relinterp.hostfiles)

    @property
    def ok(self) -> bool:
        return not self.findings and all(p.ok for p in self.programs)


@dataclass(frozen=True)
class VerifyOptions:
    run: str | None = None  # the arguments to run each program with (shell-quoted), or None
    exclude: tuple[str, ...] = ()  # NEEDED names expected from the target system
    proc: bool = True  # mount /proc in the empty root
    timeout: float = 60
    sandbox: str | None = None  # force one of relinterp.verify.sandbox.SANDBOXES (or an old name of one)
    sysroot: str | None = None  # the target's system: what the tree does not hold is looked for there


def verify(target: str, options: VerifyOptions = VerifyOptions()) -> TreeReport:
    if not os.path.exists(target):
        raise read_error(target, FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT)))
    if options.run is not None:
        _require_sandbox(target, options)
    if os.path.isdir(target):
        tree = os.path.abspath(target)
        elves, unreadable = _elf_files(tree)
        programs = [obj for obj in elves if obj.is_program]
        if not programs:
            raise NotExecutableError(target, "no program in this tree")
    else:
        programs = [read_linked_object(target)]
        if not programs[0].is_program:
            raise NotExecutableError(target, f"not a program (ELF type {programs[0].elf_type})")
        tree, elves, unreadable = _tree_of(programs[0]), None, []
    runs = emulators_for(programs) if options.run is not None else {}  # before anything is run
    report = TreeReport(target, tree, findings=[Finding(_rel(e.path, tree), "file", e.reason) for e in unreadable])
    libraries = [o.path for o in elves or () if not o.is_program]
    # every ELF file met, once: a closure reaches lib/x as bin/../lib/x
    seen: dict[str, LinkedObject] = {os.path.normpath(o.path): o for o in elves or ()}
    for program in programs:
        report.programs.append(_check_program(program, tree, libraries, seen, options, runs.get(program.path)))
    family = next((p.family for p in report.programs if p.family), MUSL)
    report.findings += _check_files(tree, list(seen.values()), programs[0], family)
    if family == GLIBC:
        report.notes = [Finding(_rel(path, tree), "host", note) for path, note in host_file_notes(seen.values())]
    if elves is not None:
        report.findings += _check_symlinks(tree)
        problems, notes = sbom_problems(tree)
        report.findings += [Finding(path, SBOM_CHECK, message) for path, message in problems]
        report.notes += [Finding(path, SBOM_CHECK, message) for path, message in notes]
    return report


def _check_program(program: LinkedObject, tree: str, libraries: list[str], seen: dict,
                   options: VerifyOptions, emulator: Emulator | None = None) -> ProgramReport:
    report = ProgramReport(_rel(program.path, tree))
    if program.patched and program.model.patch.config.embedded is not None:
        try:
            with embedded_loader_file(program.model) as (loader, arch):
                _check_libraries(program, embedded_loader(loader, report), "", tree, libraries, seen, options,
                                 report, arch)
        except OSError as error:
            report.findings.append(Finding(report.path, "loader", f"the embedded loader cannot be read "
                                                                  f"({error.strerror})"))
    else:
        found = check_loader(program, tree, report)
        name = None if found is None else os.path.normpath(os.path.abspath(found.path))
        _check_libraries(program, found, name, tree, libraries, seen, options, report)
    if options.run is not None:
        report.findings += _run(program, tree, options, report, emulator)
    return report


def _check_libraries(program: LinkedObject, found: LinkedObject | None, ldso_name: str | None, tree: str,
                     libraries: list[str], seen: dict, options: VerifyOptions, report: ProgramReport,
                     arch: str | None = None) -> None:
    """Every library the program loads, found inside the tree by its loader `found`'s
    rules, with the name the loader knows itself by (an embedded loader's is empty, and
    `arch`, musl's name for its machine, names its path file instead)."""
    if found is None:
        return
    loader, family = found.path, report.family
    world = Sysroot.at(options.sysroot, mounts=(tree,))  # the tree, installed where it is
    rules = loader_rules(family, ldso_name, found, proc=options.proc, sysroot=world, ask_loader=False, arch=arch)
    real_loader = os.path.realpath(loader)
    others = [lib for lib in libraries if os.path.realpath(lib) != real_loader]
    closure = resolve_closure(program, rules, dlopen=others, confined=True, excluded=options.exclude)
    where = f"inside the tree or in the sysroot {options.sysroot}" if options.sysroot else "inside the tree"
    at_start = True  # the program's libraries: what the loader maps before any dlopen()
    for r in closure.resolutions:
        at_start = at_start and not r.dlopen
        if r.kind == FILE and at_start:
            report.libraries.setdefault(r.name, _rel(r.path, tree))
        elif r.kind == MISSING:
            report.findings.append(Finding(_rel(r.needed_by, tree), "libraries", f"{r.name}: not found {where}"))
    if family == MUSL:
        report.findings += _check_relocations(closure.objects, loader, tree)
    else:
        report.findings += [Finding(_rel(path, tree), "glibc", reason) for path, reason in link_problems(closure, loader)]
    for obj in closure.objects:  # the tree's files; the sysroot's are the target's own
        if inside(obj.path, tree):
            seen.setdefault(os.path.normpath(os.path.abspath(obj.path)), obj)


def _check_relocations(objects: list[LinkedObject], loader: str, tree: str) -> list[Finding]:
    version = musl_version(loader)
    problems = ((o, relr_problem(o, version)) for o in objects)
    return [Finding(_rel(o.path, tree), "relocations", why) for o, why in problems if why]


def _check_files(tree: str, objects: list[LinkedObject], first: LinkedObject, family: str) -> list[Finding]:
    findings = []
    for obj in sorted(objects, key=lambda o: o.path):
        here = _rel(obj.path, tree)
        mismatch = machine_problem(obj, first, f"{_rel(first.path, tree)}'s")
        if mismatch:
            findings.append(Finding(here, "machine", mismatch))
        text = obj.search_path or ""
        if family == MUSL and other_tokens(text):
            findings.append(Finding(here, "search-path", f"{text!r} uses a token musl does not expand "
                                                         "(it ignores the whole list)"))
            continue
        dest = os.path.relpath(os.path.abspath(obj.path), tree)
        for entry in split_list(text):
            if family == GLIBC and LOADER_TOKEN.search(entry):
                findings.append(Finding(here, "search-path", f"RPATH/RUNPATH entry {entry} depends on the loader's "
                                                             "$LIB or $PLATFORM (its build, the CPU): name the "
                                                             "directory relative to $ORIGIN"))
            elif entry_in_tree(entry, dest) is None:
                findings.append(Finding(here, "search-path", f"RPATH/RUNPATH entry {entry} leaves the tree"))
    return findings


def _check_symlinks(tree: str) -> list[Finding]:
    findings = []
    for directory, dirs, files in os.walk(tree):
        for name in sorted(dirs + files):
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                continue
            text = os.readlink(path)
            target = os.path.normpath(os.path.join(os.path.relpath(directory, tree), text))
            if os.path.isabs(text) or target == ".." or target.startswith("../"):
                findings.append(Finding(_rel(path, tree), "symlink", f"points to {text}, outside the tree"))
    return findings


def _require_sandbox(target: str, options: VerifyOptions) -> None:
    """Before any check: a run that cannot happen here is the machine's problem, not the tree's."""
    from .sandbox import available_sandbox

    try:
        available_sandbox(options.sandbox)
    except SandboxUnavailableError as error:
        raise SandboxUnavailableError(f"--run: {error.reason}", target) from None


def _run(program: LinkedObject, tree: str, options: VerifyOptions, report: ProgramReport,
         emulator: Emulator | None) -> list[Finding]:
    """Run the program in an empty root, under its emulator if it needs one (its result
    in `report`); what failed."""
    from .sandbox import closed_to_the_sandbox, run_in_empty_root

    rel = os.path.relpath(os.path.abspath(program.path), tree)
    closed = closed_to_the_sandbox(tree, rel)
    if closed:
        return [Finding(report.path, "run", closed)]
    report.run = run_in_empty_root(tree, rel, shlex.split(options.run), proc=options.proc, timeout=options.timeout,
                                   sandbox=options.sandbox, emulator=emulator.file if emulator else None)
    return [] if report.run.status == 0 else [Finding(report.path, "run", _describe_status(report.run.status,
                                                                                           options))]


def _describe_status(status: int | None, options: VerifyOptions) -> str:
    if status is None:
        return f"did not finish within {options.timeout:g} s in the empty root"
    if status < 0:
        return f"killed by signal {-status} in the empty root"
    return f"exited with status {status} in the empty root"


def _elf_files(tree: str) -> tuple[list[LinkedObject], list[RelinterpError]]:
    """Every ELF file in the tree, and the ones that cannot be read as such."""
    found, unreadable = [], []
    for directory, dirs, files in os.walk(tree):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(directory, name)
            if os.path.islink(path) or not is_elf(path):
                continue
            try:
                found.append(read_linked_object(path))
            except RelinterpError as error:
                if not is_debug_only(path):  # split debugging information: nothing loads it
                    unreadable.append(error)
    return found, unreadable


def _tree_of(program: LinkedObject) -> str:
    origin = os.path.dirname(os.path.realpath(program.path))
    places = [origin]
    if program.patched:
        places += [os.path.normpath(os.path.join(origin, c)) for c in
                   program.model.patch.config.candidates if not os.path.isabs(c)]
    for entry in split_list(program.search_path or ""):
        if origin_relative(entry) is not None:
            places.append(os.path.normpath(expand_origin(entry, origin)))
    return os.path.commonpath(places)
