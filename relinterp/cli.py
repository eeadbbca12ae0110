"""The command line: parse, print, exit status.  The work is done in relinterp.api, run
over many files by relinterp.batch (through relinterp.launch.run_files, which a plain
run of patch, restore or inspect reaches without this module); relinterp.render words
the results.  Heavy imports wait until a command runs, so that --help stays instant."""

from __future__ import annotations

import functools
import os
import sys

import click

from . import __version__
from .errors import EXIT_FAILED, EXIT_NO_LOADER, EXIT_NO_SANDBOX, EXIT_NOTHING_TO_DO, EXIT_OK, EXIT_USAGE
from .params import NonEmpty, sysroot_option
from .tree_cli import bundle, verify

EXIT_STATUS_HELP = f"""
\b
Exit status:
  {EXIT_OK}  done (or already done) for every input
  {EXIT_FAILED}  an input was refused or could not be written (it is unchanged; the
     other inputs were still processed)
  {EXIT_USAGE}  usage error
  {EXIT_NOTHING_TO_DO}  nothing to do: no input had anything to be done to it (a static
     executable to patch, an unpatched file to restore, a directory with
     nothing to process)
"""
# Every status relinterp (and a program it patched) exits with, as README.md lists them.
MAIN_STATUS_HELP = f"""
\b
Exit status:
  {EXIT_OK}  done (or already done) for every input
  {EXIT_FAILED}  an input was refused or could not be written (it is unchanged; the
     other inputs were still processed); ldd: a library or the loader was not
     found; verify: a check failed
  {EXIT_USAGE}  usage error, nothing was processed
  {EXIT_NOTHING_TO_DO}  nothing to do: no input had anything to be done to it (a static
     executable to patch, an unpatched file to restore, a directory with
     nothing to process)
  {EXIT_NO_SANDBOX}  verify --run: no empty root can be made on this machine, or no emulator for
     the programs' machine; nothing was run
  {EXIT_NO_LOADER}  (the patched program, at run time) no usable loader
"""


class RelativePath(click.ParamType):
    """A loader path relative to the program's directory ($ORIGIN)."""

    name = "REL"

    def convert(self, value, param, ctx):
        if not value or value.startswith("/") or "\0" in value:
            self.fail(f"{value!r}: must be a path relative to the program's directory, e.g. ../lib/ld-musl.so",
                      param, ctx)
        return value


class AbsolutePath(click.ParamType):
    """A loader path that is the same wherever the program is."""

    name = "PATH"

    def convert(self, value, param, ctx):
        if not value.startswith("/") or "\0" in value:
            self.fail(f"{value!r}: must be an absolute path, e.g. /lib/ld-musl-x86_64.so.1", param, ctx)
        return value


def many_files(command):
    """The options every command has for working on many files at once."""
    options = [
        click.argument("paths", metavar="PATH...", nargs=-1, required=True),
        click.option("-r", "--recursive", is_flag=True,
                     help="Walk directories among PATH; files there that the command does not apply to "
                          "are skipped (listed with -v). Symlinks in them are not followed."),
        click.option("-j", "--jobs", type=click.IntRange(min=1), metavar="N",
                     help="Work on N files at a time (default: the CPUs this process may use: its "
                          "affinity, within its cgroup's CPU quota)."),
        click.option("--json", "as_json", is_flag=True,
                     help="Print one JSON document (versioned; schema shipped as "
                          "relinterp/schema/report.schema.json) instead of text."),
        click.option("-v", "--verbose", is_flag=True, help="Say more about each file, and list what was skipped."),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), command)


QUIET = click.option("-q", "--quiet", is_flag=True,
                     help="Print nothing but refusals and warnings (on stderr; with --json, the document too).")


def _eager(name: str, help: str):
    """A flag that prints something about the installation and exits, like --version."""

    def decorate(show):
        def callback(ctx, param, value):
            if value and not ctx.resilient_parsing:
                ctx.exit(show())
        return click.option(name, is_flag=True, expose_value=False, is_eager=True, callback=callback,
                            help=help)

    return decorate


@_eager("--version", "Show the version and each prebuilt stub (architecture, size, sha256), then exit.")
def _show_version() -> int:
    from .errors import BrokenInstallationError
    from .render.output import say
    from .rewrite.stub import load_stub, manifest

    data = manifest()
    say(f"relinterp {__version__}")
    say(f"stubs: manifest {data['manifest_version']}, config schema {data['config_schema']}")
    broken = 0
    for arch in sorted(data["stubs"]):
        try:
            stub = load_stub(arch)
        except BrokenInstallationError as error:
            say(str(error), err=True)
            broken += 1
            continue
        say(f"  {arch}: {len(stub.code)} bytes, sha256 {stub.sha256}")
    return EXIT_FAILED if broken else EXIT_OK


@_eager("--cmakedir", "Print the directory holding relinterpConfig.cmake (for -Drelinterp_DIR=...), then exit.")
def _show_cmakedir() -> int:
    from pathlib import Path

    from .render.output import say

    say(str(Path(__file__).resolve().parent / "cmake"))
    return EXIT_OK


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=MAIN_STATUS_HELP)
@_show_version
@_show_cmakedir
def main() -> None:
    """Make dynamic Linux executables find their loader relative to themselves.

    A patched program starts directly, from any directory it is copied to, with no
    loader installed on the machine: its loader ships beside it.
    """


main.add_command(bundle)
main.add_command(verify)


@main.command(epilog=EXIT_STATUS_HELP)
@click.option("--loader-rel", "loader_rel", multiple=True, type=RelativePath(),
              help="The loader's path relative to the program's directory ($ORIGIN). Repeat to give "
                   "fallbacks, tried in order.")
@click.option("--loader", "loader", multiple=True, type=AbsolutePath(),
              help="An absolute loader path, tried after every --loader-rel. Repeatable.")
@click.option("--fallback-system", is_flag=True,
              help="Try the program's original interpreter (its PT_INTERP) last.")
@click.option("--embed-loader", "embed_loader", type=NonEmpty(), metavar="LOADER",
              help="Put the loader's file into the program's instead: the kernel maps it with the program, "
                   "nothing is looked for at run time (docs/embedding.md). Not with the options above.")
@click.option("-o", "--output", type=NonEmpty(), metavar="OUT",
              help="Write the patched program to OUT instead of in place (one PATH only).")
@click.option("-n", "--dry-run", is_flag=True, help="Print the plan (where the stub goes, sizes, candidates); "
                                                     "write nothing.")
@QUIET
@many_files
def patch(paths, recursive, jobs, as_json, verbose, output, dry_run, quiet, **options) -> None:
    """Patch each PATH so that it finds its loader relative to itself.

    At run time RELINTERP_LOADER (an absolute path; not in secure mode) is tried
    first, then each --loader-rel, each --loader, and with --fallback-system the
    original interpreter.  Without --loader-rel and --loader, the candidates are derived
    from the program's DT_RUNPATH (or DT_RPATH) entries that start with $ORIGIN.
    With --embed-loader the loader is part of the program: one file, nothing looked for.

    In place unless -o is given; each file is replaced atomically, keeping its mode.
    A file already patched with the same options is left untouched; with other
    options it is patched again from the original it records.  -v lists the
    candidates and where each came from.
    """
    if options["embed_loader"] and (options["loader_rel"] or options["loader"] or options["fallback_system"]):
        raise click.UsageError("--embed-loader is the loader: it takes no --loader-rel, --loader or --fallback-system")
    _run("patch", paths, recursive, jobs, as_json, verbose, output=output, dry_run=dry_run, quiet=quiet, **options)


@main.command(epilog=EXIT_STATUS_HELP)
@click.option("-o", "--output", type=NonEmpty(), metavar="OUT",
              help="Write the result to OUT instead of in place (one PATH only).")
@QUIET
@many_files
def restore(paths, recursive, jobs, as_json, verbose, output, quiet) -> None:
    """Give back each PATH exactly as it was before `relinterp patch`.

    A patched file that changed since (stripped, say) has lost its original bytes: it
    gets its PT_INTERP back and runs with the system loader again, and relinterp says
    it is not the byte-exact original (status restored-not-exact; exit status 0).
    """
    _run("restore", paths, recursive, jobs, as_json, verbose, output=output, quiet=quiet)


@main.command(epilog=EXIT_STATUS_HELP)
@many_files
def inspect(paths, recursive, jobs, as_json, verbose) -> None:
    """Show what relinterp sees in each PATH.

    ELF class, machine and type, libc, whether it is patched (with what loader
    candidates, stub and original interpreter) or can be (or why not), NEEDED and
    RUNPATH.  Reads program headers only, so stripped files work too.
    """
    _run("inspect", paths, recursive, jobs, as_json, verbose)


LDD_STATUS_HELP = f"""
\b
Exit status:
  {EXIT_OK}  every library and the loader were found
  {EXIT_FAILED}  a library or the loader was not found, or a PROGRAM is not one
  {EXIT_USAGE}  usage error
  {EXIT_NOTHING_TO_DO}  every PROGRAM is static: it loads no library
"""


@main.command(epilog=LDD_STATUS_HELP)
@click.argument("programs", nargs=-1, required=True, metavar="PROGRAM...")
@click.option("--json", "as_json", is_flag=True, help="Print one versioned JSON document (schema shipped as "
                                                      "relinterp/schema/ldd.schema.json).")
@click.option("-v", "--verbose", is_flag=True, help="Show the tree: each library under the object needing it.")
@sysroot_option("PT_INTERP, the loader's directories and absolute RPATH/RUNPATH entries are looked up there.")
def ldd(programs, as_json, verbose, sysroot) -> None:
    """List the libraries each PROGRAM would load, found by its own loader's rules.

    For a patched program that is the loader its stub would map (the first recorded
    candidate that exists, $ORIGIN being the program's directory), else PT_INTERP.
    Nothing is run, neither the program nor its loader: use this instead of `ldd`,
    which runs the system's loader on the program.
    """
    from .errors import RelinterpError
    from .loaders.libraries import exit_status, list_libraries
    from .loaders.sysroot import HOST, Sysroot
    from .render.libraries import ldd_json, ldd_lines
    from .render.output import say, say_json

    results = []
    for path in programs:
        try:
            results.append(list_libraries(path, Sysroot.at(sysroot) if sysroot else HOST))
        except RelinterpError as error:
            results.append(error)
            say(str(error), err=True)
            continue
        for line in [] if as_json else [f"{path}:"] * (len(programs) > 1) + ldd_lines(results[-1], verbose):
            say(line)
    status = exit_status(results)
    if as_json:
        say_json(ldd_json(results, status))
    sys.exit(status)


def run(args: list[str]) -> None:
    """The full command line, as `relinterp ARGS...` runs it; exits.  Errors are shown as
    click shows them; a usage error of a command given --json also prints the command's
    document saying so (relinterp.render.usage)."""
    try:
        status = main.main(args=args, prog_name="relinterp", standalone_mode=False)
    except click.UsageError as error:
        error.show()
        command = next((a for a in args if not a.startswith("-")), None)
        from .render.usage import COMMANDS, usage_document

        if command in COMMANDS and "--json" in args[args.index(command):]:
            from .render.output import say_json

            say_json(usage_document(command, error.format_message(), error.exit_code))
        sys.exit(error.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(EXIT_FAILED)
    sys.exit(status or EXIT_OK)


def _run(command: str, paths, recursive: bool, jobs: int | None, as_json: bool, verbose: bool,
         **options) -> None:
    """Run `command` over the inputs (relinterp.launch.run_files); exit with the run's status."""
    from .launch import run_files

    _check_usage(paths, recursive, options.get("output"))
    sys.exit(run_files(command, paths, dict(options, recursive=recursive, jobs=jobs, as_json=as_json,
                                            verbose=verbose)))


def _check_usage(paths: tuple[str, ...], recursive: bool, output: str | None) -> None:
    if output is not None and (len(paths) > 1 or recursive):
        raise click.UsageError("-o/--output takes exactly one PATH and no -r")
    if not recursive:
        for path in paths:
            if os.path.isdir(path):
                raise click.UsageError(f"{path}: is a directory, not a file (use -r to process the files in it)")
