"""What a traced run did, as a list of files: the shared objects it mapped, the programs
it executed, the files it opened or probed, each by an absolute path and with whether it
was there.

Only the processes of the programs being bundled count: a process is followed from the
moment it executes one of them (the workload's shell and the other commands it runs are
not), and so are its children and whatever they execute in turn.

Paths are made absolute the way the kernel resolves them: a relative path against the
process's working directory (strace prints it as `AT_FDCWD</dir>`; otherwise it is
followed through chdir/fchdir and inherited at fork), or against the directory an `*at`
call's descriptor names.  `..` is resolved on the file system, as the kernel does (after
the symbolic link before it); other symbolic links are kept, so a path stays the one the
program named (`/usr/lib/python3.11/os.py`, not where a link would lead).

A shared object the loader maps shows as an `open` followed by an executable `mmap` of
the descriptor (glibc's loader also passes MAP_DENYWRITE); a program that merely reads
an .so does neither.  Whether a mapped object was part of the program's start-up or was
loaded later by dlopen is not in the trace: the program's own closure tells
(relinterp.bundle.traced).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from .syscalls import Syscall, fd_arg, string_arg

OPENED, PROBED, EXECUTED, MAPPED = "opened", "probed", "executed", "mapped"
ABSENT = frozenset({"ENOENT", "ENOTDIR"})  # errors that say the path is not there
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC")
FORKS = frozenset({"clone", "clone3", "fork", "vfork"})
# name -> (index of the directory descriptor or None, index of the path, what the call does)
PATH_CALLS = {
    "open": (None, 0, OPENED), "creat": (None, 0, OPENED), "openat": (0, 1, OPENED), "openat2": (0, 1, OPENED),
    "stat": (None, 0, PROBED), "lstat": (None, 0, PROBED), "stat64": (None, 0, PROBED), "lstat64": (None, 0, PROBED),
    "newfstatat": (0, 1, PROBED), "fstatat64": (0, 1, PROBED), "statx": (0, 1, PROBED),
    "access": (None, 0, PROBED), "faccessat": (0, 1, PROBED), "faccessat2": (0, 1, PROBED),
    "readlink": (None, 0, PROBED), "readlinkat": (0, 1, PROBED),
    "execve": (None, 0, EXECUTED), "execveat": (0, 1, EXECUTED),
}


@dataclass(frozen=True)
class Access:
    """One file a traced program used (one entry per path, use and program)."""

    path: str  # absolute, as the program named it
    how: str  # OPENED, PROBED, EXECUTED or MAPPED
    found: bool  # it was there (a call on it succeeded, or failed for a reason other than its absence)
    error: str | None = None  # the errno of a failed call, when it was never found
    writing: bool = False  # OPENED for writing (O_WRONLY, O_RDWR, O_CREAT or O_TRUNC)
    by: str = ""  # the program the process was running, as it was executed


@dataclass(frozen=True)
class Trace:
    programs: tuple[str, ...]  # the programs followed, as given
    started: tuple[str, ...]  # those of them that were executed during the run
    accesses: tuple[Access, ...]  # in the order first seen

    def used(self, *how: str) -> list[Access]:
        return [a for a in self.accesses if a.how in how]


@dataclass
class _Process:
    cwd: str | None
    program: str | None = None  # the program it runs, once it has executed one of ours
    fds: dict[str, str] = field(default_factory=dict)  # descriptor -> path it was opened by


def build_trace(calls: Iterable[Syscall], programs: Iterable[str], cwd: str,
                parents: dict[int, int] | None = None) -> Trace:
    """The trace of a run started in `cwd`, following the processes of `programs`.
    `parents` (fork_parents of the same calls) lets a child that shows before its
    fork returns inherit what it should; without it, the calls are read twice."""
    if parents is None:
        calls = list(calls)
        parents = fork_parents(calls)
    reader = _Reader(tuple(programs), cwd, parents)
    for call in calls:
        reader.read(call)
    return Trace(reader.programs, tuple(dict.fromkeys(reader.started)), tuple(reader.accesses.values()))


def fork_parents(calls: Iterable[Syscall]) -> dict[int, int]:
    """child pid -> parent pid, from the return values of clone, fork and vfork."""
    return {int(c.result): c.pid for c in calls if c.name in FORKS and c.ok and c.result.isdigit()}


class _Reader:
    def __init__(self, programs: tuple[str, ...], cwd: str, parents: dict[int, int]) -> None:
        self.programs, self.cwd, self.parents = programs, cwd, parents
        self.ours = {os.path.realpath(p) for p in programs}
        self.processes: dict[int, _Process] = {}
        self.accesses: dict[tuple[str, str, str], Access] = {}
        self.started: list[str] = []
        self.real_paths: dict[str, str] = {}

    def process(self, pid: int) -> _Process:
        """A process first seen inherits its parent's working directory, program and
        descriptors (the first process: those of the run)."""
        if pid not in self.processes:
            parent = self.processes.get(self.parents.get(pid, -1))
            self.processes[pid] = (_Process(self.cwd) if parent is None else
                                   _Process(parent.cwd, parent.program, dict(parent.fds)))
        return self.processes[pid]

    def read(self, call: Syscall) -> None:
        process = self.process(call.pid)
        if call.args and call.args[0].startswith("AT_FDCWD<"):
            process.cwd = fd_arg(call.args[0])[1] or process.cwd
        if call.name in PATH_CALLS:
            self._path_call(process, call)
        elif call.name == "chdir" and call.ok and call.args:
            process.cwd = absolute(string_arg(call.args[0]), process.cwd) or process.cwd
        elif call.name == "fchdir" and call.ok and call.args:
            process.cwd = (fd_arg(call.args[0]) or ("", None))[1] or process.cwd
        elif call.name in ("mmap", "mmap2") and process.program is not None:
            self._mmap(process, call)

    def _path_call(self, process: _Process, call: Syscall) -> None:
        dirfd, index, how = PATH_CALLS[call.name]
        if len(call.args) <= index:
            return
        base = process.cwd if dirfd is None else _directory(call.args[dirfd], process.cwd)
        path = absolute(string_arg(call.args[index]), base)
        if path is None:
            return
        if how == EXECUTED and call.ok:
            self._exec(process, path)
            return
        if process.program is None:
            return
        flags = call.args[index + 1] if len(call.args) > index + 1 else ""
        writing = how == OPENED and (call.name == "creat" or any(f in flags for f in WRITE_FLAGS))
        self._add(Access(path, how, call.ok or call.errno not in ABSENT, None if call.ok else call.errno,
                         writing, process.program))
        if how == OPENED and call.ok:
            process.fds[call.result] = path

    def _exec(self, process: _Process, path: str) -> None:
        if os.path.realpath(path) in self.ours:
            self.started.append(path)
            if process.program is None:
                process.program = path
                return
        if process.program is not None:
            self._add(Access(path, EXECUTED, True, by=process.program))
            process.program = path

    def _mmap(self, process: _Process, call: Syscall) -> None:
        if len(call.args) < 5 or not call.ok:
            return
        prot, flags, (fd, mapped) = call.args[2], call.args[3], fd_arg(call.args[4]) or ("", None)
        if mapped is None or ("PROT_EXEC" not in prot and "MAP_DENYWRITE" not in flags):
            return
        named = process.fds.get(fd)
        if named is None or self._real(named) != mapped:
            named = mapped  # not opened in sight: the file the descriptor names
        self._add(Access(named, MAPPED, True, by=process.program))

    def _real(self, path: str) -> str:
        if path not in self.real_paths:
            self.real_paths[path] = os.path.realpath(path)
        return self.real_paths[path]

    def _add(self, access: Access) -> None:
        """One entry per (path, use, program): found if any call found it, writing if any wrote."""
        key = (access.path, access.how, access.by)
        known = self.accesses.get(key)
        if known is None:
            self.accesses[key] = access
        else:
            found = known.found or access.found
            self.accesses[key] = replace(known, found=found, error=None if found else known.error,
                                         writing=known.writing or access.writing)


def _directory(arg: str, cwd: str | None) -> str | None:
    """The directory an `*at` call's descriptor argument stands for."""
    fd = fd_arg(arg)
    if fd is None:
        return None
    return fd[1] or (cwd if fd[0] == "AT_FDCWD" else None)


def absolute(path: str | None, base: str | None) -> str | None:
    """`path` made absolute against `base`, `.` and `..` resolved as the kernel does;
    None for an empty path (a call on a descriptor) or an unknown base."""
    if not path or (base is None and not path.startswith("/")):
        return None
    result = "/"
    for part in os.path.join(base or "/", path).split("/"):
        if part == "..":
            result = os.path.dirname(os.path.realpath(result))
        elif part and part != ".":
            result = os.path.join(result, part)
    return result
