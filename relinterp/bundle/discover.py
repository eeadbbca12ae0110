"""bundle --trace / --trace-cmd: run the programs on this machine under the tracer, learn
what each path they used is here, and place it (relinterp.bundle.traced) as files the
plan takes in (relinterp.bundle.extras).

`--trace ARGS` runs each program given with ARGS (shell-quoted); `--trace-cmd COMMAND`
runs COMMAND with /bin/sh, with APP set to the first program's absolute path: what it
runs of the programs given (by any path to them) is followed, the rest of the command
is not.  Each run starts in the current directory, reads /dev/null and must exit with
status 0 within the time limit.

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from ..elf.linked import LinkedObject, is_elf, read_linked_object
from ..errors import RelinterpError
from ..loaders.rules import loader_rules
from .extras import extend_plan
from .loaded import run_time_loads
from .plan import BundlePlan, LoaderChoice
from .trace.model import EXECUTED, MAPPED, Trace
from .trace.run import Workload, trace_workload
from .traced import DIRECTORY, FILE, LIBRARY, MISSING, OTHER, PROGRAM, PathFacts, TracedPlacement, place_traced, \
    program_prefix


NEUTRAL_DROPS = ("LANG", "LANGUAGE", "TZ", "LD_PRELOAD", "LD_AUDIT")


@dataclass(frozen=True)
class TraceRequest:
    args: tuple[str, ...] = ()  # each --trace ARGS, as written (shell quoting)
    command: str | None = None  # --trace-cmd COMMAND
    prefix: str | None = None  # --trace-prefix; None: the first program's prefix (traced.program_prefix)
    timeout: float = 60.0  # for each run, in seconds

    def __bool__(self) -> bool:
        return bool(self.args) or self.command is not None


def traced_extension(request: TraceRequest) -> Callable:
    """The `extend` step of relinterp.bundle.plan.plan_bundle that traces the programs
    and adds what they used at run time."""
    def extend(plan: BundlePlan, programs: list[LinkedObject], loader: LoaderChoice | None,
               problems: list) -> BundlePlan:
        placement = discover(programs, plan.options.bin_dir, request)
        extras = placement.extras
        if loader is not None:
            options = plan.options
            rules = loader_rules(loader.family, loader.known_as, loader.object, library_path=options.library_path,
                                 sysroot=options.root)
            extras = run_time_loads(extras, programs, rules, options.exclude)
        plan = extend_plan(plan, programs, loader, extras, problems)
        return replace(plan, from_target=placement.from_target)
    return extend


def discover(programs: list[LinkedObject], bin_dir: str, request: TraceRequest) -> TracedPlacement:
    apps = [os.path.abspath(p.path) for p in programs]
    trace = _merged([trace_workload(w, apps, timeout=request.timeout) for w in workloads(apps, request)])
    prefix = os.path.abspath(request.prefix) if request.prefix else program_prefix(apps[0], bin_dir)
    code = {a.path for a in trace.used(MAPPED, EXECUTED)} | {a.by for a in trace.accesses}
    under = None if prefix is None else prefix.rstrip("/") + "/"
    paths = dict.fromkeys([a.path for a in trace.accesses] + sorted(code))
    # whether a file is ELF matters for code, and for what the prefix holds
    facts = {path: describe(path, programs[0], elf=path in code or bool(under and path.startswith(under)))
             for path in paths}
    return place_traced(trace, prefix, facts, {os.path.realpath(a) for a in apps})


def workloads(apps: list[str], request: TraceRequest) -> list[Workload]:
    """Each --trace ARGS for each program, then --trace-cmd."""
    env = neutral_environment(os.environ)
    runs = [Workload((app, *shlex.split(args)), f"--trace {shlex.quote(args)}", env) for args in request.args
            for app in apps]
    if request.command is not None:
        runs.append(Workload(("/bin/sh", "-c", request.command), f"--trace-cmd {shlex.quote(request.command)}",
                             {**env, "APP": apps[0]}))
    return runs


def neutral_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` in the C locale, with no time zone and nothing preloaded."""
    kept = {k: v for k, v in environ.items() if k not in NEUTRAL_DROPS and not k.startswith("LC_")}
    return {**kept, "LC_ALL": "C"}


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
