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
