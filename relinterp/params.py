"""Command-line values checked as they are parsed: a bad one is a usage error (status
2) naming the option, before anything is read or written."""

from __future__ import annotations

import math
import shlex

import click


class NonEmpty(click.ParamType):
    """A path or name: an empty one would mean the current directory, or nothing."""

    name = "TEXT"

    def convert(self, value, param, ctx):
        if not value:
            self.fail("must not be empty", param, ctx)
        return value


class ShellWords(click.ParamType):
    """Arguments written as a shell would split them (kept as written)."""

    name = "'ARGS'"

    def convert(self, value, param, ctx):
        try:
            shlex.split(value)
        except ValueError as error:
            self.fail(f"{value!r}: not valid shell quoting ({error})", param, ctx)
        return value


class Seconds(click.ParamType):
    """A time limit: a finite number of seconds above 0."""

    name = "SECONDS"

    def convert(self, value, param, ctx):
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = math.nan
        if not math.isfinite(seconds) or seconds <= 0:
            self.fail(f"{value!r}: must be a number of seconds above 0", param, ctx)
        return seconds


def sysroot_option(what: str):
    """--sysroot DIR: the target machine's files, at their paths, in DIR."""
    return click.option("--sysroot", type=click.Path(exists=True, file_okay=False), metavar="DIR",
                        help=f"The target's files are in DIR, at their paths (/usr/aarch64-linux-gnu for Debian's "
                             f"cross glibc; / for multiarch packages): {what}")


def trace_options(command):
    """bundle's --trace, --trace-cmd and the options that go with them."""
    options = (
        click.option("--trace", "trace_args", multiple=True, type=ShellWords(), metavar="'ARGS'",
                     help="Run each program with ARGS (shell-quoted) under strace, here, in the C locale, and add "
                          "what it loads, runs and reads at run time from its prefix; list what it takes from "
                          "elsewhere. Repeatable."),
        click.option("--trace-cmd", type=NonEmpty(), metavar="'COMMAND'",
                     help="Like --trace, for a workload: run COMMAND with /bin/sh, $APP being the first program; "
                          "the programs are followed wherever it runs them."),
        click.option("--trace-program", "trace_programs", multiple=True, type=NonEmpty(), metavar="REL",
                     help="STAGE: the program (its path in STAGE) that --trace runs and --trace-cmd follows "
                          "(default: the one program in BIN_DIR). Repeatable."),
        click.option("--trace-prefix", type=click.Path(exists=True, file_okay=False), metavar="PREFIX",
                     help="APP...: the directory the tree stands for (default: the first program's directory "
                          "less BIN_DIR's depth, e.g. /usr for /usr/bin/python3.11); STAGE is its own."),
        click.option("--trace-timeout", type=Seconds(), metavar="SECONDS",
                     help="The time limit of each traced run (default 60)."),
    )
    for option in reversed(options):
        command = option(command)
    return command
