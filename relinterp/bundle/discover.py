"""bundle --trace / --trace-cmd: run the programs on this machine under the tracer
(relinterp.trace), learn what each path they used is here, and place it
(relinterp.bundle.traced) as additions the planner takes in like any other
(relinterp.bundle.additions), with the list of what the programs take from the target.

Which programs run: those given (APP...); for an install prefix (STAGE), its programs
named with --trace-program (relative to STAGE), by default the one program in its
BIN_DIR.  The prefix the tree stands for is STAGE, or for programs given --trace-prefix,
by default the first program's directory less BIN_DIR's depth.  A STAGE's files are in
its tree already: there, tracing adds the shared objects loaded from outside it, and
lists what else the programs used from outside.

`--trace ARGS` runs each program with ARGS (shell-quoted); `--trace-cmd COMMAND` runs
COMMAND with /bin/sh, with APP set to the first program's absolute path: what it runs of
the programs (by any path to them) is followed, the rest of the command is not.  Each
run starts in the current directory, reads /dev/null and must exit with status 0 within
the time limit.  Nothing runs before the programs and the output have been checked.

The environment is the current one made neutral, as a bare container or `verify --run`'s
empty root is: the C locale (LC_ALL=C; LANG, LANGUAGE, the other LC_* and TZ removed)
and no LD_PRELOAD or LD_AUDIT.  A run in the build machine's locale would record only
what that locale needs (python, in a UTF-8 locale, never loads the ASCII codec it needs
where no locale is installed), and a preloaded library is not the program's.  A workload
that needs a locale or a time zone sets it: --trace-cmd 'LANG=de_DE.UTF-8 "$APP" ...'.
"""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from ..elf.linked import LinkedObject, is_elf, read_linked_object
from ..errors import BundleError, OptionError, RelinterpError
from ..loaders.family import libc_family
from ..loaders.rules import loader_rules
from ..trace.model import EXECUTED, MAPPED, Trace
from ..trace.run import Workload, trace_workload
from .additions import ARGUMENT, Addition
from .inputs import entry_for, read_inputs
from .loaded import run_time_loads
from .plan import BundleOptions, check_output
from .traced import (DIRECTORY, FILE, LIBRARY, MISSING, OTHER, PROGRAM, PathFacts, TracedPlacement, place_traced,
                     program_prefix, under)
from .treefile import inside_tree

NEUTRAL_DROPS = ("LANG", "LANGUAGE", "TZ", "LD_PRELOAD", "LD_AUDIT")
SHOWN = 5  # programs named in a refusal
TIMEOUT = 60.0  # seconds


@dataclass(frozen=True)
class TraceRequest:
    args: tuple[str, ...] = ()  # each --trace ARGS, as written (shell quoting)
    command: str | None = None  # --trace-cmd COMMAND
    prefix: str | None = None  # --trace-prefix; None: the first program's prefix (traced.program_prefix)
    programs: tuple[str, ...] = ()  # --trace-program: a STAGE's programs to run, relative to it
    timeout: float | None = None  # for each run, in seconds; None: TIMEOUT

    def __bool__(self) -> bool:
        return bool(self.args) or self.command is not None


def discover(apps: Sequence[str], output: str, options: BundleOptions, request: TraceRequest,
             stage: str | None = None) -> TracedPlacement:
    """Trace the programs `apps` (or those of the install prefix `stage`) as `request`
    says.  Raise BundleError, before running anything, when the output or the programs
    cannot be bundled; TraceError or MissingToolError when the runs cannot be traced."""
    programs = _traced_programs(apps, output, options, request, stage)
    paths = [os.path.abspath(p.path) for p in programs]
    timeout = request.timeout or TIMEOUT
    trace = _merged([trace_workload(w, paths, timeout=timeout) for w in workloads(paths, request)])
    prefix = os.path.realpath(stage) if stage else \
        os.path.abspath(request.prefix) if request.prefix else program_prefix(paths[0], options.bin_dir)
    placement = place_traced(trace, prefix, path_facts(trace, programs[0], prefix),
                             {os.path.realpath(p) for p in paths})
    additions = _run_time(placement.additions, programs, options)
    if stage is not None:  # the prefix's files are the tree's already
        additions = [a for a in additions if not under(a.source, prefix)]
    return replace(placement, additions=tuple(additions))


def _traced_programs(apps: Sequence[str], output: str, options: BundleOptions, request: TraceRequest,
                     stage: str | None) -> list[LinkedObject]:
    """The programs to run, read and checked as the planner checks programs named."""
    problems: list[RelinterpError] = []
    check_output(output, options, problems)
    paths = stage_programs(stage, request.programs, options.bin_dir, problems) if stage else list(apps)
    inputs = read_inputs([(entry_for(p, p), ARGUMENT, None) for p in paths], problems)
    if problems:
        raise BundleError(output, problems)
    return [i.object for i in inputs]


def stage_programs(stage: str, chosen: Sequence[str], bin_dir: str, problems: list) -> list[str]:
    """The programs of `stage` that --trace runs: `chosen` (paths relative to it), else
    the one ELF program in its BIN_DIR; a problem when that is not one."""
    root = os.path.realpath(stage)
    if chosen:
        problems += [OptionError(rel, f"--trace-program: not a path inside STAGE {stage}")
                     for rel in chosen if not inside_tree(rel)]
        return [os.path.join(root, os.path.normpath(rel)) for rel in chosen if inside_tree(rel)]
    directory = os.path.join(root, os.path.normpath(bin_dir))
    found = sorted(entry.name for entry in _scan(directory) if _is_program(entry))
    if len(found) != 1:
        named = f" ({', '.join(found[:SHOWN])}{', ...' if len(found) > SHOWN else ''})" if found else ""
        problems.append(OptionError(stage, f"{len(found)} programs in {bin_dir}{named}: name the one(s) --trace "
                                           f"runs with --trace-program (e.g. --trace-program {bin_dir}/NAME)"))
        return []
    return [os.path.join(directory, found[0])]


def _scan(directory: str) -> list[os.DirEntry]:
    try:
        return list(os.scandir(directory))
    except OSError:
        return []


def _is_program(entry: os.DirEntry) -> bool:
    """A regular file (not a link) that is an ELF program."""
    if not entry.is_file(follow_symlinks=False) or not entry.stat().st_mode & 0o111:
        return False
    try:
        return is_elf(entry.path) and read_linked_object(entry.path).is_program
    except (OSError, RelinterpError):
        return False


def _run_time(additions: Sequence[Addition], programs: list[LinkedObject], options: BundleOptions) -> list[Addition]:
    """The additions less what the programs map at start-up, with what their loader finds
    by file name sent to LIB_DIR (relinterp.bundle.loaded), by their loader's rules."""
    dynamic = [p for p in programs if p.interp is not None]
    if not dynamic:
        return list(additions)
    known_as = options.loader or dynamic[0].interp
    try:
        loader = read_linked_object(os.path.realpath(known_as))
    except RelinterpError:
        return list(additions)  # the planner refuses the loader, by name
    rules = loader_rules(libc_family(dynamic[0].interp), known_as, loader, library_path=options.library_path)
    return run_time_loads(additions, programs, rules, options.exclude)


def workloads(apps: list[str], request: TraceRequest) -> list[Workload]:
    """Each --trace ARGS for each program, then --trace-cmd."""
    env = neutral_environment(os.environ)
    runs = [Workload((app, *shlex.split(args)), f"--trace {shlex.quote(args)}", env, about=app)
            for args in request.args for app in apps]
    if request.command is not None:
        runs.append(Workload(("/bin/sh", "-c", request.command), f"--trace-cmd {shlex.quote(request.command)}",
                             {**env, "APP": apps[0]}))
    return runs


def neutral_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` in the C locale, with no time zone and nothing preloaded."""
    kept = {k: v for k, v in environ.items() if k not in NEUTRAL_DROPS and not k.startswith("LC_")}
    return {**kept, "LC_ALL": "C"}


def path_facts(trace: Trace, reference: LinkedObject, prefix: str | None) -> dict[str, PathFacts]:
    """What each path of the trace (and each program that used one) is here.  Whether a
    file is ELF matters for code, and for what the prefix holds: other files are not read."""
    code = {a.path for a in trace.used(MAPPED, EXECUTED)} | {a.by for a in trace.accesses}
    paths = dict.fromkeys([a.path for a in trace.accesses] + sorted(code))
    return {path: describe(path, reference, elf=path in code or under(path, prefix)) for path in paths}


def describe(path: str, reference: LinkedObject, elf: bool = True) -> PathFacts:
    """What `path` is here: ELF files count as programs or libraries only when they are
    for the programs' machine (a cross compiler's target libraries are data to it);
    `elf` False: a regular file is a FILE, unread."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return PathFacts(MISSING, path)
    real = os.path.realpath(path)
    if stat.S_ISDIR(mode):
        return PathFacts(DIRECTORY, real)
    if not stat.S_ISREG(mode):
        return PathFacts(OTHER, real)
    return PathFacts(_elf_kind(path, reference) if elf else FILE, real)


def _elf_kind(path: str, reference: LinkedObject) -> str:
    try:
        if not is_elf(path):
            return FILE
        obj = read_linked_object(path)
    except (OSError, RelinterpError):
        return FILE
    if obj.abi != reference.abi or obj.machine != reference.machine:
        return FILE
    if obj.is_program:
        return PROGRAM
    return LIBRARY if obj.elf_type == "ET_DYN" else FILE


def _merged(traces: Iterable[Trace]) -> Trace:
    traces = list(traces)
    return Trace(traces[0].programs, tuple(dict.fromkeys(p for t in traces for p in t.started)),
                 tuple(a for t in traces for a in t.accesses))
