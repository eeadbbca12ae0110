"""Many files at once: gather them (walking directories), process each in a pool of
worker processes, and give the results back in input order.

One file's failure is its own result; the others go on.  Every file is processed once,
under the first name it is met by: other names of the same file (hard links, or a
symlink named on the command line) are reported as the same file.  After a file is
rewritten in place, its other hard links found in the same run are re-linked to the new
file, so that the tree keeps its links and no name is left with the old content.
Symlinks met while walking a directory are not followed: a link to a file in the tree
leaves the file to be processed under its own name, and a link out of the tree is
none of the run's business.

Workers die with the run: each gets SIGTERM when its parent dies, however it dies (kill
-9, the OOM killer), and a run stopped by a signal (relinterp.interrupts) stops its
workers; a worker stopped while writing removes what it was writing, then exits.
"""

from __future__ import annotations

import os
import re
import signal
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from . import api
from .interrupts import Interrupted, on_stop
from .errors import (EXIT_FAILED, EXIT_NOTHING_TO_DO, EXIT_OK, BrokenInstallationError, NotElfError,
                     NotExecutableError, NothingToPatchError, NotPatchedError, ReadError, RelinterpError, WriteError,
                     unreadable as read_error)
from .report import (ERROR, PATCHED, RESTORED, RESTORED_NOT_EXACT, SAME_FILE, SKIPPED, FileError,
                     PatchResult, RestoreResult, SameFile, Skipped)
from .rewrite.stub import load_stub, supported_arches
from .rewrite.atomic import STAGING_SUFFIX, relink

# What a file found in a directory may be without it being an error: it is skipped.
SKIPPABLE = {
    "patch": (NotElfError, NotExecutableError, NothingToPatchError),
    "restore": (NotElfError, NotPatchedError),
    "inspect": (NotElfError,),
}
REWRITTEN = (PATCHED, RESTORED, RESTORED_NOT_EXACT)
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# What relinterp names its temporary files (relinterp.rewrite.write; mkstemp's or its own
# eight characters): one left by a run that was killed is no program of the tree.
LEFTOVER = re.compile(r"\..+\.[A-Za-z0-9_]{8}" + re.escape(STAGING_SUFFIX) + "$")


@dataclass(frozen=True)
class Task:
    """One command's work on one file, the same for every file of a run."""

    command: str  # "patch", "restore" or "inspect"
    options: api.PatchOptions = api.PatchOptions()
    output: str | None = None
    dry_run: bool = False

    def __call__(self, path: str) -> FileResult:
        if self.command == "patch":
            return api.patch(path, **self.options.as_kwargs(), output=self.output, dry_run=self.dry_run)
        if self.command == "restore":
            return api.restore(path, output=self.output)
        return api.inspect(path)


@dataclass(frozen=True)
class Input:
    path: str
    found: bool  # met while walking a directory, rather than named


TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which costs `relinterp patch` the import of typing
if TYPE_CHECKING:
    from typing import Union

    from .report import FileResult

    Item = Union[Input, Skipped, SameFile, FileError]


def gather(paths: Iterable[str], recursive: bool) -> list[Item]:
    """The files to process, in order: named files as given, directories (with
    `recursive`) walked in sorted order; what is not processed is said why."""
    items: list[Item] = []
    first: dict[tuple[int, int], str] = {}

    def add(path: str, info: os.stat_result | None, found: bool) -> None:
        if info is not None and not stat.S_ISREG(info.st_mode):
            reason = "not a regular file"
            items.append(Skipped(path, reason) if found else FileError.of(ReadError(path, reason)))
        elif info is not None and (info.st_dev, info.st_ino) in first:
            items.append(SameFile(path, first[info.st_dev, info.st_ino]))
        else:
            if info is not None:
                first[info.st_dev, info.st_ino] = path
            items.append(Input(path, found))  # an unreadable one fails in its worker, by name

    for path in paths:
        if recursive and os.path.isdir(path):
            for found, what in _walk(path):
                if isinstance(what, os.stat_result):
                    add(found, what, True)
                else:
                    items.append(what)
        else:
            add(path, _stat(path), False)
    return items


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _walk(top: str) -> Iterator[tuple[str, os.stat_result | Item]]:
    """Every name under `top` but directories, sorted; symlinks (to directories too)
    are not followed but said to be skipped; a directory that cannot be read is an error."""
    unreadable: list[OSError] = []
    for directory, dirs, files in os.walk(top, onerror=unreadable.append):
        yield from _unreadable(unreadable)
        dirs.sort()
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(directory, d))]):
            path = os.path.join(directory, name)
            try:
                info = os.lstat(path)
            except OSError as error:
                yield path, FileError.of(read_error(path, error))
                continue
            if stat.S_ISLNK(info.st_mode):
                yield path, Skipped(path, "symbolic link, not followed")
            elif stat.S_ISREG(info.st_mode) and LEFTOVER.match(name):
                yield path, Skipped(path, "temporary file left by an interrupted relinterp run")
            else:
                yield path, info
    yield from _unreadable(unreadable)


def _unreadable(errors: list[OSError]) -> Iterator[tuple[str, Item]]:
    while errors:
        error = errors.pop(0)
        yield error.filename, FileError.of(read_error(error.filename, error))


def run(task: Task, items: list[Item], jobs: int) -> Iterator[FileResult]:
    """Process the inputs among `items` with up to `jobs` processes; yield every item's
    result in order, as soon as it and those before it are done."""
    inputs = [item for item in items if isinstance(item, Input)]
    results = _map(_Guarded(task), inputs, jobs)
    done: dict[str, FileResult] = {}
    for item in items:
        if isinstance(item, Input):
            result = done[item.path] = next(results)
        elif isinstance(item, SameFile):
            result = _follow(item, done[item.same_as])
        else:
            result = item
        yield result


@dataclass(frozen=True)
class _Guarded:
    """Run the task on one input; turn its refusal into that file's result."""

    task: Task

    def __call__(self, item: Input) -> FileResult:
        try:
            return self.task(item.path)
        except BrokenInstallationError as error:  # about relinterp, reported for the file it stopped
            return FileError(item.path, error.kind, f"{item.path}: {error.reason}", error.exit_code)
        except RelinterpError as error:
            if item.found and isinstance(error, SKIPPABLE[self.task.command]):
                return Skipped(item.path, error.reason)
            return FileError.of(error)
        except Exception as error:  # a defect: report it for this file, go on with the others
            return FileError(item.path, "internal", f"{item.path}: internal error: {type(error).__name__}: "
                                                    f"{error}", EXIT_FAILED)


def _map(work: _Guarded, inputs: list[Input], jobs: int) -> Iterator[FileResult]:
    if jobs <= 1 or len(inputs) <= 1:
        yield from map(work, inputs)
        return
    import ctypes  # noqa: F401 -- imported once here: every worker's initializer uses it
    import multiprocessing  # only now: a single file needs no pool
    from concurrent.futures import ProcessPoolExecutor

    for arch in supported_arches():  # loaded once here, inherited by every worker
        load_stub(arch)
    jobs = min(jobs, len(inputs))
    with on_stop(_stop_workers):
        # fork: the workers start with everything already imported (spawn would import anew).
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_worker_started, initargs=(os.getpid(),)) as pool:
            yield from pool.map(_InWorker(work), inputs, chunksize=max(1, min(32, len(inputs) // (jobs * 4))))


def _stop_workers() -> None:
    """In the parent, stopped: SIGTERM to each worker, and wait for it to end (having
    removed what it was writing)."""
    import multiprocessing

    workers = multiprocessing.active_children()
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.join()


_busy = False  # in a worker: a file is being processed
_stopped: list[int] = []  # in a worker: the signal that stops it


def _worker_started(parent: int) -> None:
    """A worker dies with the run: SIGTERM when its parent dies (or at once, if it
    already has); Ctrl-C is the parent's to handle, which then stops the workers."""
    import ctypes

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_stopped)
    signal.signal(signal.SIGHUP, _worker_stopped)
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(128 + signal.SIGTERM)


def _worker_stopped(signum, frame) -> None:
    """Unwind the file being processed (which removes what was being written), or, idle,
    just end."""
    _stopped.append(signum)
    if _busy:
        raise Interrupted(signum)
    os._exit(128 + signum)


@dataclass(frozen=True)
class _InWorker:
    """A task as a worker runs it: stopped (see _worker_stopped), the worker ends."""

    work: _Guarded

    def __call__(self, item: Input) -> FileResult:
        global _busy
        try:
            _busy = True
            result = self.work(item)
            _busy = False
        except Interrupted as stop:
            os._exit(128 + stop.signum)
        if _stopped:  # Interrupted was raised where it could not propagate
            os._exit(128 + _stopped[0])
        return result


def _follow(name: SameFile, first: FileResult) -> FileResult:
    """Keep `name` a link to the file written under its first name, if it was rewritten
    in place (symlinks still point at it; a hard link would keep the old content)."""
    if not isinstance(first, (PatchResult, RestoreResult)) or first.status not in REWRITTEN \
            or first.output != os.path.realpath(first.path):
        return name
    try:
        info = os.lstat(name.path)
        if not stat.S_ISREG(info.st_mode) or os.path.samestat(info, os.stat(first.output)):
            return name
        relink(first.output, name.path)
    except WriteError as error:
        return FileError.of(error)
    except OSError as error:
        return FileError.of(WriteError(name.path, f"cannot link ({error.strerror})"))
    return replace(name, linked=True)


def exit_status(results: list[FileResult]) -> int:
    """1 if any file failed; else 3 if no file had anything to be done to it (all were
    nothing-to-do refusals, skipped, or none were found); else 0."""
    errors = [r for r in results if isinstance(r, FileError)]
    if any(e.exit_code != EXIT_NOTHING_TO_DO for e in errors):
        return EXIT_FAILED
    if all(r.status in (ERROR, SKIPPED, SAME_FILE) for r in results):
        return EXIT_NOTHING_TO_DO
    return EXIT_OK
