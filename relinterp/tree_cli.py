"""The release-tree commands: `bundle` makes a tree, `verify` proves it needs nothing
from the host.  Their modules are imported inside the commands, so that `relinterp
patch` stays light; relinterp.render.trees words their results and --json documents."""

from __future__ import annotations

import sys

import click

from .errors import EXIT_FAILED, EXIT_NO_SANDBOX, EXIT_OK, EXIT_USAGE
from .params import NonEmpty, Seconds, ShellWords, sysroot_option, trace_options

TREE_STATUS_HELP = f"""
\b
Exit status:
  {EXIT_OK}  done: the tree is complete (bundle), every check passed (verify)
  {EXIT_FAILED}  refused, nothing written (bundle); a check failed (verify)
  {EXIT_USAGE}  usage error
  {EXIT_NO_SANDBOX}  verify --run: no empty root can be made on this machine, or no emulator for
     the programs' machine (nothing was run; the message says what to install or enable)
"""


class CompressionType(click.ParamType):
    """--compress METHOD[:LEVEL], checked when the command line is read (exit status 2)."""

    name = "METHOD[:LEVEL]"

    def convert(self, value, param, ctx):
        from .bundle.tarball import Compression, CompressionError, parse_compression

        if isinstance(value, Compression):
            return value
        try:
            return parse_compression(value)
        except CompressionError as error:
            self.fail(str(error), param, ctx)


@click.command(epilog=TREE_STATUS_HELP)
@click.argument("apps", nargs=-1, required=True, metavar="APP... | STAGE")
@click.option("-o", "--output", required=True, type=NonEmpty(), metavar="DIR",
              help="The tree to make. An earlier tree there is replaced atomically when everything in it is "
                   "bundle's (listed in its record, .relinterp-bundle.json); anything else there is refused.")
@click.option("--lib-dir", default="lib", type=NonEmpty(), show_default=True, metavar="LIB_DIR",
              help="Where the libraries from outside the tree and the loader go, inside DIR.")
@click.option("--bin-dir", default="bin", type=NonEmpty(), show_default=True, metavar="BIN_DIR",
              help="Where the programs named as APP go, inside DIR.")
@click.option("--loader", type=NonEmpty(), metavar="PATH",
              help="The loader to ship (default: the programs' PT_INTERP).")
@click.option("--embed-loader", is_flag=True,
              help="Embed the loader in each program (patch --embed-loader) instead of shipping it in the tree.")
@click.option("--include", multiple=True, type=NonEmpty(), metavar="LIB_OR_GLOB",
              help="A library the programs dlopen(): a name (searched as dlopen would), a path or a glob. "
                   "Repeatable.")
@click.option("--exclude", multiple=True, type=NonEmpty(), metavar="GLOB",
              help="Leave libraries whose NEEDED name matches GLOB to the target system. Repeatable.")
@click.option("--library-path", multiple=True, metavar="DIRS",
              help="Search these ':'-separated directories first, as LD_LIBRARY_PATH would be. Repeatable.")
@sysroot_option("the loader and the libraries are found there, as the target's loader finds them (after "
                "--library-path); a file found outside it is refused.")
@click.option("--copy-outside-links", is_flag=True,
              help="STAGE: copy the file a symbolic link leaving STAGE names, instead of refusing the link.")
@click.option("--glibc-by-name/--no-glibc-by-name", default=True,
              help="glibc programs: ship what glibc loads by name, libgcc_s.so.1 (when this machine has it) "
                   "and the NSS modules of the shipped libc.so.6's build (the default); with --no-glibc-by-name "
                   "the target's are used.")
@trace_options
@click.option("--tar", "tarball", type=NonEmpty(), metavar="OUT.tar.gz",
              help="Also write a reproducible archive of the tree (sorted, fixed mtime, numeric owners), "
                   "compressed as its name says: .tar.gz or .tgz, .tar.xz or .txz, .tar.zst, .tar (any other "
                   "name of a file is a usage error); --compress sets the level. '-' (or /dev/stdout), a FIFO or "
                   "a character device is written to as it is (gzip, or as --compress says).")
@click.option("--compress", "compression", type=CompressionType(), metavar="METHOD[:LEVEL]",
              help="How --tar compresses: gzip[:1-9] (default gzip:6), xz[:0-9], zstd[:1-19] (with the "
                   "zstd command), none.")
@click.option("--sbom", "sbom_copy", type=NonEmpty(), metavar="FILE",
              help="Also write a copy of the tree's SBOM (DIR/sbom.cdx.json, CycloneDX 1.6) to FILE; '-' (or "
                   "/dev/stdout), a FIFO or a character device is written to as it is.")
@click.option("--no-sbom", is_flag=True, help="Write no SBOM into the tree.")
@click.option("-n", "--dry-run", is_flag=True, help="Print the plan (every file, where it comes from); write nothing.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document (versioned; schema shipped as relinterp/schema/bundle.schema.json).")
@click.option("-v", "--verbose", is_flag=True, help="List every file of the tree and where it comes from.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--progress/--no-progress", default=None,
              help="Show how far copying and archiving have got (default: only when stderr is a terminal).")
def bundle(apps, output, lib_dir, bin_dir, loader, embed_loader, include, exclude, library_path, sysroot,
           copy_outside_links, glibc_by_name, trace_args, trace_cmd, trace_programs, trace_prefix, trace_timeout,
           tarball, compression, sbom_copy, no_sbom, dry_run, as_json, verbose, quiet, progress) -> None:
    """Make DIR, a tree that runs APP... on any Linux: the programs in BIN_DIR, patched to
    find their loader in LIB_DIR, with every library they need (musl or glibc programs).

    Given one directory, STAGE (an install prefix: `cmake --install build --prefix
    STAGE`), DIR mirrors it: every file where it is, every program patched to find the
    loader from there, every program and shared object given the search path that
    finds its libraries in the tree."""
    from .bundle.assemble import Archive, SbomRequest, build_bundle, plan_result
    from .bundle.plan import BundleOptions
    from .bundle.progress import Progress
    from .elf.searchlist import split_list
    from .render.trees import bundle_document, bundle_lines

    stage = _stage(apps)
    archive = Archive(tarball, _archive_compression(tarball, compression)) if tarball else None
    to_stdout = _report_to_stderr(tarball, sbom_copy, as_json)
    options = BundleOptions(lib_dir=lib_dir, bin_dir=bin_dir, loader=loader, include=include, exclude=exclude,
                            library_path=tuple(d for dirs in library_path for d in split_list(dirs)),
                            sysroot=sysroot, glibc_by_name=glibc_by_name, copy_outside_links=copy_outside_links,
                            embed_loader=embed_loader)
    shown = Progress(enabled=progress and not dry_run)
    copy = _sbom_copy(sbom_copy, no_sbom, output)
    request = _trace_request(trace_args, trace_cmd, trace_prefix, trace_programs, trace_timeout, sysroot, stage)

    def make():
        query = None
        if not (no_sbom or dry_run):  # an SBOM to write: --no-sbom imports none of its modules
            from .bundle.provenance import OriginQuery

            query = OriginQuery()
        sbom = SbomRequest(write=not no_sbom, copy=copy, query=query)
        try:
            plan = _plan(apps, stage, output, options, request, query.start if query else None)
            return plan_result(plan, archive, sbom) if dry_run else build_bundle(plan, archive, shown, sbom)
        finally:
            if query is not None:
                query.close()

    result = _or_refuse(make, "bundle" if as_json else None)
    if as_json:
        _print_json(bundle_document(result, EXIT_OK))
    elif not quiet:
        from .render.output import say

        for line in bundle_lines(result, verbose):
            say(line, err=to_stdout)


def _report_to_stderr(tarball: str | None, sbom_copy: str | None, as_json: bool) -> bool:
    """--tar - or --sbom - write to stdout: the report goes to stderr (and --json cannot be)."""
    from .bundle.staging import is_stdout

    streams = [f"{option} {value}" for option, value in (("--tar", tarball), ("--sbom", sbom_copy))
               if value is not None and is_stdout(value)]
    writers = streams + ["--json"] * (as_json and bool(streams))
    if len(writers) > 1:
        raise click.UsageError(f"{' and '.join(writers)} would {'both' if len(writers) == 2 else 'all'} write "
                               "to stdout")
    return bool(streams)


def _plan(apps, stage: str | None, output: str, options, request, files_known):
    """The tree's plan: the programs (or STAGE), with what a traced run found when asked."""
    from dataclasses import replace

    from .bundle.plan import plan_bundle
    from .bundle.tree import plan_tree

    additions, from_target = (), ()
    if request is not None:
        from .bundle.discover import discover  # only here: a bundle not traced imports none of the tracer

        traced = discover(apps, output, options, request, stage)
        additions, from_target = traced.additions, traced.from_target
    options = replace(options, additions=options.additions + additions)
    plan = plan_tree(stage, output, options, files_known=files_known) if stage else \
        plan_bundle(apps, output, options, files_known=files_known)
    return replace(plan, from_target=from_target)


def _stage(apps: tuple[str, ...]) -> str | None:
    """The install prefix to mirror, when the one argument is a directory."""
    import os

    directories = [app for app in apps if os.path.isdir(app)]
    if not directories:
        return None
    if len(apps) > 1:
        raise click.UsageError(f"{directories[0]}: a directory among programs: give one install prefix (STAGE), "
                               "or programs only")
    return apps[0]


def _trace_request(args: tuple[str, ...], command: str | None, prefix: str | None, programs: tuple[str, ...],
                   timeout: float | None, sysroot: str | None, stage: str | None):
    """--trace, --trace-cmd and their options, checked together (usage errors, status 2):
    the TraceRequest, or None when neither --trace nor --trace-cmd is given."""
    import os

    if not args and command is None:
        if prefix or programs or timeout:
            raise click.UsageError("--trace-program, --trace-prefix and --trace-timeout go with --trace or "
                                   "--trace-cmd")
        return None
    if sysroot:
        raise click.UsageError("--trace runs the programs on this machine, with its loader; a sysroot's programs "
                               "are for another: bundle them without --trace")
    if stage and prefix:
        raise click.UsageError("--trace-prefix goes with programs (APP...): STAGE is the prefix of its tree")
    if not stage and programs:
        raise click.UsageError("--trace-program goes with STAGE: the programs given are the ones traced")
    if prefix and os.path.realpath(prefix) == os.sep:
        raise click.BadParameter(f"{prefix}: the whole system (/proc, /etc, ...) cannot be the tree",
                                 param_hint="--trace-prefix")
    from .bundle.discover import TraceRequest  # only here: a bundle not traced imports none of the tracer

    return TraceRequest(args, command, prefix, programs, timeout)


def _archive_compression(tarball: str, compression):
    from .bundle.staging import is_stdout
    from .bundle.tarball import SUFFIXES, CompressionError, compression_for
    from .rewrite.atomic import not_a_file

    try:
        named = compression_for(tarball)
    except CompressionError as error:
        raise click.BadParameter(f"{tarball}: {error}", param_hint="--tar") from None
    # stdout, a FIFO or a device is written through, a directory refused (staging.output_file): a name
    # to go by only for a file
    if named is None and not (is_stdout(tarball) or not_a_file(tarball)):  # .tar.bz2, .zip, ...
        raise click.BadParameter(f"{tarball}: the name must end in {', '.join(SUFFIXES)} (the archive is a tar, "
                                 "compressed as the suffix says)", param_hint="--tar")
    if compression is None:
        return named or compression_for(".tar.gz")
    if named is not None and named.method != compression.method:
        raise click.UsageError(f"{tarball}: the name says {named.method}, --compress says {compression.method}")
    return compression


def _sbom_copy(copy: str | None, no_sbom: bool, output: str) -> str | None:
    import os

    if copy is None:
        return None
    if no_sbom:
        raise click.UsageError("--sbom and --no-sbom contradict each other")
    tree = os.path.abspath(output)
    if copy != "-" and os.path.abspath(copy).startswith(tree.rstrip("/") + "/"):
        raise click.BadParameter(f"{copy}: inside the tree {output}, which is replaced whole (the tree has its "
                                 "own sbom.cdx.json)", param_hint="--sbom")
    return copy


def _print_json(document) -> None:
    from .render.output import say_json

    say_json(document)


@click.command(epilog=TREE_STATUS_HELP)
@click.argument("targets", nargs=-1, required=True, metavar="DIR_OR_APP...")
@click.option("--run", "run_args", type=ShellWords(), metavar="'ARGS'",
              help="Also run each program with ARGS (shell-quoted) in an empty root holding only the tree "
                   "and /proc, /dev, /tmp; it must exit with status 0.")
@click.option("--no-proc", is_flag=True, help="With --run: leave /proc out of the empty root.")
@click.option("--timeout", default=60.0, show_default=True, type=Seconds(), metavar="SECONDS",
              help="With --run: the time limit.")
@click.option("--sandbox", type=click.Choice(["bwrap", "unshare", "unshare+chroot"]),
              help="With --run: how to make the empty root: bubblewrap, or relinterp itself with unshare(2) "
                   "(default: bwrap where it works, else unshare; unshare+chroot is unshare's old name).")
@click.option("--exclude", multiple=True, type=NonEmpty(), metavar="GLOB",
              help="Libraries whose NEEDED name matches GLOB are expected from the target system. Repeatable.")
@sysroot_option("a library the tree does not hold may come from there, found by the tree's loader's rules "
                "(--run still runs in an empty root).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document (versioned; schema shipped as relinterp/schema/verify.schema.json).")
@click.option("-q", "--quiet", is_flag=True, help="Print only the failed checks (nothing for a tree that passed).")
def verify(targets, run_args, no_proc, timeout, sandbox, exclude, sysroot, as_json, quiet) -> None:
    """Check that each tree (or program) needs nothing from the machine it runs on."""
    from .render.trees import verify_document, verify_lines
    from .verify.check import VerifyOptions, verify as verify_target

    options = VerifyOptions(run=run_args, exclude=exclude, proc=not no_proc, timeout=timeout, sandbox=sandbox,
                            sysroot=sysroot)
    reports = _or_refuse(lambda: [verify_target(target, options) for target in targets],
                         "verify" if as_json else None)
    status = EXIT_OK if all(r.ok for r in reports) else EXIT_FAILED
    if as_json:
        _print_json(verify_document(reports, status))
    else:
        from .render.output import say

        for report in reports:
            for line in verify_lines(report, quiet):
                say(line)
    sys.exit(status)


def _or_refuse(operation, json_command: str | None = None):
    """operation(), or its refusal as "PATH: reason" lines on stderr and its exit status
    (and, for --json, the document that says so on stdout).  Stopped by a signal, it
    removes what it was writing (a staging tree, a sandbox) and dies of that signal."""
    from .errors import RelinterpError
    from .interrupts import stopped_by_signals
    from .render.output import say
    from .render.trees import refusal_document

    try:
        with stopped_by_signals():
            return operation()
    except RelinterpError as error:
        for problem in getattr(error, "problems", ()):  # a BundleError: one line per problem, then its own
            say(str(problem), err=True)
        say(f"{error.path}: {error.reason}", err=True)
        if json_command:
            _print_json(refusal_document(json_command, error))
        sys.exit(error.exit_code)
