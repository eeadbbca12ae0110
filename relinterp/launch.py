"""The `relinterp` command's entry point.

A plain run of patch, restore or inspect (files and the options of the command, each
spelled out) is the common case, in build scripts and over whole trees, and starts in
about twice the interpreter's own start-up: it is parsed here, without loading click.
Anything else -- help, a version, bundle, verify, an option written another way, any
usage error -- goes to the full command line (relinterp.cli), which words every message;
so what a plain run does is what the full command line would do with it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

# Per command: flags, and options taking a value (long and short spellings), by the
# keyword relinterp.cli passes them as.
FLAGS = {"--recursive": "recursive", "-r": "recursive", "--json": "as_json", "--verbose": "verbose",
         "-v": "verbose"}
VALUES = {"--jobs": "jobs", "-j": "jobs"}
QUIET = {"--quiet": "quiet", "-q": "quiet"}
COMMANDS = {
    "patch": ({**FLAGS, **QUIET, "--fallback-system": "fallback_system", "--dry-run": "dry_run", "-n": "dry_run"},
              {**VALUES, "--loader-rel": "loader_rel", "--loader": "loader", "--output": "output",
               "-o": "output", "--embed-loader": "embed_loader"}),
    "restore": ({**FLAGS, **QUIET}, {**VALUES, "--output": "output", "-o": "output"}),
    "inspect": (FLAGS, VALUES),
}
REPEATED = ("loader_rel", "loader")


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    plain = parse_plain(args)
    if plain is None:
        from .cli import run

        run(args)
    command, paths, options = plain
    sys.exit(run_files(command, paths, options))


def parse_plain(args: list[str]) -> tuple[str, list[str], dict] | None:
    """(command, paths, options) when `args` is a plain, valid run; None otherwise."""
    if not args or args[0] not in COMMANDS:
        return None
    flags, values = COMMANDS[args[0]]
    options: dict = {name: () for name in REPEATED if name in values.values()}
    paths: list[str] = []
    rest = iter(args[1:])
    for arg in rest:
        if arg in flags:
            options[flags[arg]] = True
        elif arg in values:
            value = next(rest, None)
            if value is None or not _valid(values[arg], value):
                return None
            name = values[arg]
            if name in REPEATED:
                options[name] += (value,)
            elif name in options:
                return None  # given twice: the full command line says what it makes of that
            else:
                options[name] = int(value) if name == "jobs" else value
        elif arg.startswith("-") or not arg:
            return None
        else:
            paths.append(arg)
    if not paths or not _usable(paths, options):
        return None
    return args[0], paths, options


def _valid(name: str, value: str) -> bool:
    if "\0" in value:
        return False
    if name == "loader_rel":
        return bool(value) and not value.startswith("/")
    if name == "loader":
        return value.startswith("/")
    if name == "jobs":
        return value.isdigit() and int(value) >= 1
    return bool(value) and not value.startswith("-")  # an empty -o: the full command line refuses it


def _usable(paths: list[str], options: dict) -> bool:
    """What relinterp.cli checks before running: -o with one file, directories with -r."""
    if options.get("output") is not None and (len(paths) > 1 or options.get("recursive")):
        return False
    if options.get("embed_loader") and (options.get("loader_rel") or options.get("loader")
                                        or options.get("fallback_system")):
        return False
    return bool(options.get("recursive")) or not any(os.path.isdir(p) for p in paths)


def run_files(command: str, paths: Sequence[str], options: dict) -> int:
    """Run `command` over the inputs, print each result as it comes, then the summary;
    return the run's exit status."""
    from .api import PatchOptions
    from .batch import Task, exit_status, gather, run
    from .cpus import usable_cpus
    from .errors import RelinterpError
    from .interrupts import stopped_by_signals
    from .render.files import document, render, summary_line
    from .render.output import say, say_json

    options = dict(options)
    recursive, jobs, as_json, verbose, quiet = (options.pop(k, None)
                                                for k in ("recursive", "jobs", "as_json", "verbose", "quiet"))
    output, dry_run = options.pop("output", None), bool(options.pop("dry_run", False))
    task = Task(command, options=PatchOptions(**options), output=output, dry_run=dry_run) if command == "patch" \
        else Task(command, output=output)
    results = []
    try:
        with stopped_by_signals():  # what is being written is removed, workers stop, then the signal ends us
            for result in run(task, gather(paths, bool(recursive)), jobs or usable_cpus()):
                results.append(result)
                out, err = render(result, bool(verbose))
                for line in [] if as_json or quiet else out:
                    say(line)
                for line in err:
                    say(line, err=True)
    except RelinterpError as error:  # not about one input (a broken installation): nothing more can run
        say(str(error), err=True)
        return error.exit_code
    status = exit_status(results)
    if as_json:
        fields = {"dry_run": dry_run} if command == "patch" else {}
        say_json(document(command, results, status, **fields))
    if (len(results) > 1 or recursive) and not quiet:
        say(summary_line(results), err=bool(as_json))
    return status
