"""The command line: parse, print, exit status.  The work is done in relinterp.api."""

from __future__ import annotations

import sys

import click

from . import __version__
from .errors import EXIT_FAILED, EXIT_NOTHING_TO_DO, EXIT_OK, EXIT_USAGE

EXIT_STATUS_HELP = f"""
\b
Exit status:
  {EXIT_OK}  done (or already done)
  {EXIT_FAILED}  an input was refused or could not be written; it is unchanged
  {EXIT_USAGE}  usage error
  {EXIT_NOTHING_TO_DO}  nothing to do: a static executable to patch, an unpatched file to restore
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_STATUS_HELP)
@click.version_option(__version__, prog_name="relinterp")
def main() -> None:
    """Make dynamic Linux executables find their loader relative to themselves.

    A patched program starts directly, from any directory it is copied to, with no
    loader installed on the machine: its loader ships beside it.
    """


@main.command(epilog=EXIT_STATUS_HELP)
@click.argument("app", metavar="APP")
@click.option("--loader-rel", "loader_rel", multiple=True, type=RelativePath(),
              help="The loader's path relative to APP's directory ($ORIGIN). Repeat to give "
                   "fallbacks, tried in order.")
@click.option("--loader", "loader", multiple=True, type=AbsolutePath(),
              help="An absolute loader path, tried after every --loader-rel. Repeatable.")
@click.option("--fallback-system", is_flag=True,
              help="Try APP's original interpreter (its PT_INTERP) last.")
@click.option("-o", "--output", metavar="OUT", help="Write the patched program to OUT instead of in place.")
@click.option("-v", "--verbose", is_flag=True,
              help="List the candidates and where each came from; say where the stub goes and how the file grows.")
def patch(app: str, loader_rel: tuple[str, ...], loader: tuple[str, ...], fallback_system: bool,
          output: str | None, verbose: bool) -> None:
    """Patch APP so that it finds its loader relative to itself.

    At run time RELINTERP_LOADER (an absolute path; not in setuid programs) is tried
    first, then each --loader-rel, each --loader, and with --fallback-system the
    original interpreter.  Without --loader-rel and --loader, the candidates are derived
    from APP's DT_RUNPATH (or DT_RPATH) entries that start with $ORIGIN.

    In place unless -o is given; the file is replaced atomically, keeping its mode.
    Patching again with the same options changes nothing.
    """
    from .api import PATCHED, patch as patch_file
    from .libc import libc_family

    result = _run(patch_file, app, loader_rel=loader_rel, loader=loader, fallback_system=fallback_system,
                  output=output)
    shown = ", ".join(map(str, result.candidates))
    if result.status == PATCHED:
        click.echo(f"{result.path}: patched (loader: {shown})")
    elif result.plan is None:
        click.echo(f"{result.path}: already patched (loader: {shown}), unchanged")
    else:
        click.echo(f"{result.path}: written; {app} was already patched (loader: {shown})")
    plan = result.plan
    if verbose and plan is not None and plan.segment is not None:
        seg = plan.segment
        old = result.executable.unpatched
        click.echo(f"  interpreter was {old.interp} (libc: {libc_family(old.interp)}); "
                   f"machine {old.machine}, {old.elf_type}")
        click.echo(f"  stub segment: file offset {seg.offset:#x}, address {seg.vaddr:#x}, "
                   f"{seg.filesz} bytes, align {seg.align:#x}")
        click.echo(f"  size: {old.file_size} -> {plan.size} bytes (+{plan.size - old.file_size})")
    if verbose:
        for number, candidate in enumerate(result.candidates, 1):
            click.echo(f"  candidate {number}: {candidate.describe()}")


@main.command(epilog=EXIT_STATUS_HELP)
@click.argument("app", metavar="APP")
@click.option("-o", "--output", metavar="OUT", help="Write the original to OUT instead of in place.")
def restore(app: str, output: str | None) -> None:
    """Give back APP exactly as it was before `relinterp patch`."""
    from .api import restore as restore_file

    result = _run(restore_file, app, output=output)
    click.echo(f"{result.path}: restored ({result.plan.size} bytes, as before patching)")


def _run(operation, *args, **kwargs):
    """Run an api operation; report its refusal as "PATH: reason" and exit with its status."""
    from .errors import RelinterpError
    from .stub import StubMismatch

    try:
        return operation(*args, **kwargs)
    except RelinterpError as error:
        click.echo(str(error), err=True)
        sys.exit(error.exit_code)
    except StubMismatch as error:
        click.echo(f"relinterp: broken installation: {error}", err=True)
        sys.exit(EXIT_FAILED)
