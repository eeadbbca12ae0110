"""Run a workload under strace (https://strace.io) on this machine and read back what
the programs being bundled did: relinterp.trace.model.Trace.

strace follows every child (`-f`), stops only at the calls asked for (`--seccomp-bpf`),
prints every string as hex escapes (`-xx`) and the file behind every descriptor (`-y`),
and writes its log to a private file, so the program's own output never mixes with it.
The program reads /dev/null as its input, writes its output nowhere, and runs in the
current directory with the current environment.  A run that does not finish in time is
killed with everything it started.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import MissingToolError, TraceError
from .model import FORKS, Trace, build_trace, fork_parents
from .syscalls import read_syscalls

STRACE_HINT = "install strace (apt-get install strace; dnf install strace; apk add strace)"
# %file: every call that takes a path (open*, stat*, access*, readlink*, execve*, chdir);
# mmap shows which opened files the loader maps; fchdir and the forks keep each
# process's working directory known.
TRACED_CALLS = "%file,/^(mmap2?|fchdir|clone3?|v?fork)$"
STRACE_OPTIONS = ("-f", "-qq", "--seccomp-bpf", "-y", "-xx", "-e", "signal=none", "-e", f"trace={TRACED_CALLS}")


@dataclass(frozen=True)
class Workload:
    """What to run: `argv` (the program itself, or `sh -c COMMAND`), named in messages as
    `label` (e.g. "--trace '--version'")."""

    argv: tuple[str, ...]
    label: str
    env: dict[str, str] | None = None  # None: this process's environment
    about: str | None = None  # the program its messages name; None: the first program followed


def find_strace() -> str | None:
    return shutil.which("strace")


def trace_workload(workload: Workload, programs: Sequence[str], *, timeout: float = 60.0) -> Trace:
    """Run `workload` under strace, following the processes of `programs` (absolute
    paths); raise TraceError when it cannot be traced, fails or runs too long."""
    about = workload.about or programs[0]
    strace = find_strace()
    if strace is None:
        raise MissingToolError(about, f"strace is needed for {workload.label}: {STRACE_HINT}")
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="relinterp-trace.") as scratch:
        log, errors = os.path.join(scratch, "strace.log"), os.path.join(scratch, "stderr")
        command = ["strace", *STRACE_OPTIONS, "-o", log, "--", *workload.argv]  # its messages say "strace: "
        status = _run(strace, command, errors, workload.env, timeout)
        if status is None:
            raise TraceError(about, f"{workload.label}: still running after {timeout:g} s: stopped; "
                                    "nothing bundled (a workload must end by itself)")
        tail = _last_lines(errors)
        trace = _read_log(log, programs, cwd)
    _check(trace, status, tail, workload, about)
    return trace


def _run(strace: str, command: list[str], errors: str, env: dict[str, str] | None, timeout: float) -> int | None:
    """The exit status (negative: the signal that killed it), None if it timed out; in
    its own session, so that a timeout kills strace and every process it traces."""
    with open(errors, "wb") as stderr:
        process = subprocess.Popen(command, executable=strace, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                                   env=env, start_new_session=True)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        finally:  # also whatever it left behind in its session
            _kill_group(process.pid)
            process.wait()


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # all gone already


def _read_log(log: str, programs: Sequence[str], cwd: str) -> Trace:
    """The log read twice, not held in memory: first who forked whom, then the calls."""
    try:
        with open(log, encoding="latin-1") as lines:  # -xx: the log is ASCII
            parents = fork_parents(read_syscalls(line for line in lines if any(f in line for f in FORKS)))
        with open(log, encoding="latin-1") as lines:
            return build_trace(read_syscalls(lines), programs, cwd, parents)
    except FileNotFoundError:  # strace stopped before it wrote anything
        return Trace(tuple(programs), (), ())


def _check(trace: Trace, status: int, tail: list[str], workload: Workload, about: str) -> None:
    said = [line for line in tail if line.startswith("strace: ")]  # strace's own complaint
    if said and not trace.started:
        raise TraceError(about, f"cannot be traced here ({said[-1]}); {workload.label} ran nothing to learn from")
    if status != 0:
        said = f": {' | '.join(tail[-2:])}" if tail else ""
        raise TraceError(about, f"{workload.label} failed ({_status_text(status)}), nothing bundled{said}")
    if not trace.started:
        raise TraceError(about, f"{workload.label} never ran {' or '.join(trace.programs)}")


def _status_text(status: int) -> str:
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


def _last_lines(path: str, keep: int = 5) -> list[str]:
    """The last non-empty lines of a file (the end of what the run said on stderr)."""
    with open(path, "rb") as stream:
        stream.seek(max(0, os.fstat(stream.fileno()).st_size - 4096))
        text = stream.read().decode("utf-8", errors="replace")
    return [line.strip() for line in text.splitlines() if line.strip()][-keep:]
