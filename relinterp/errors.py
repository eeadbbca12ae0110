"""Why relinterp refused or failed, each with its message and exit status.

Every error names the file it is about: str(error) is "PATH: reason", one line that is
safe to show: the path and the reason may hold what a file holds (an interpreter path, a
NEEDED name), so control characters in them are shown escaped (`printable`, the one
definition of that escaping, which relinterp.render uses for all text output too).
`.path` and `.reason` keep the exact text.
"""

from __future__ import annotations

import os
import re

_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def printable(text: str) -> str:
    """`text` with every control character but TAB escaped (`\\n`, `\\r`, else `\\xNN`,
    C1 controls too) and every byte that is not UTF-8 (os.fsdecode's stand-ins, U+DC80 to
    U+DCFF) as `\\xNN`: one line, safe to show on a terminal."""
    return _UNPRINTABLE.sub(_escape, text)


def _escape(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")

# Exit statuses of the command line, documented in README.md and `relinterp --help`.
EXIT_OK = 0
EXIT_FAILED = 1  # an input was refused or could not be written
EXIT_USAGE = 2  # bad command line (click's own status for usage errors)
EXIT_NOTHING_TO_DO = 3  # a static executable to patch, an unpatched file to restore
EXIT_NO_SANDBOX = 4  # verify --run: no empty root (or no emulator) on this machine; nothing was run
EXIT_NO_LOADER = 127  # the patched program, at run time: no usable loader (the stub exits so: stub/relinterp.c)


class RelinterpError(Exception):
    """An input relinterp cannot process; nothing was written."""

    exit_code = EXIT_FAILED

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(printable(f"{os.fspath(path)}: {reason}"))
        self.path = os.fspath(path)
        self.reason = reason

    def about(self, path: str | os.PathLike[str]) -> RelinterpError:
        """The same refusal, about `path`: the name the user knows the file by (not the
        temporary or absolute one it was worked on under)."""
        error = self.__class__.__new__(self.__class__)
        error.__dict__.update(self.__dict__)
        error.path = os.fspath(path)
        Exception.__init__(error, printable(f"{error.path}: {self.reason}"))
        return error

    @property
    def kind(self) -> str:
        """A stable name for machines (--json): the class name, e.g. NotElfError -> "not-elf"."""
        return error_kind(type(self))


def error_kind(cls: type) -> str:
    name = cls.__name__
    name = name[: -len("Error")] if name.endswith("Error") and name != "Error" else name
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


class ReadError(RelinterpError):
    """The file cannot be opened or read."""


def unreadable(path: str | os.PathLike[str], error: OSError) -> ReadError:
    """The one wording, in every command, of a file that cannot be read."""
    if isinstance(error, IsADirectoryError):
        return ReadError(path, "is a directory, not a file")
    return ReadError(path, f"cannot read ({error.strerror})")


class NotElfError(RelinterpError):
    """The file is not an ELF file at all."""


class MalformedElfError(RelinterpError):
    """Truncated or inconsistent ELF headers."""


class NotExecutableError(RelinterpError):
    """An ELF file, but not an executable (object file, shared library, core dump)."""


class NothingToPatchError(RelinterpError):
    """A static or static-pie executable: there is no loader to relocate."""

    exit_code = EXIT_NOTHING_TO_DO


class NotPatchedError(RelinterpError):
    """`restore` of a file relinterp did not patch."""

    exit_code = EXIT_NOTHING_TO_DO


class ModifiedError(RelinterpError):
    """A patched file changed since (e.g. stripped): its original cannot be given back exactly."""


class UnsupportedError(RelinterpError):
    """A machine, class or layout relinterp has no stub or rule for."""


class CandidateError(RelinterpError):
    """A loader candidate that cannot be stored or used."""


class LoaderFileError(RelinterpError):
    """The loader given to embed in a program (--embed-loader) cannot be its loader; the
    message names the program, then the loader."""


class WriteError(RelinterpError):
    """The output could not be written; the input is unchanged."""


class OptionError(RelinterpError):
    """An option value that cannot be used (the path it names is the one reported)."""


class LibcMismatchError(RelinterpError):
    """A program linked against one C library pointed at the other's loader (musl, glibc)."""


class LoaderChoiceError(RelinterpError):
    """No one loader serves the programs given (bundle)."""


class MissingLibraryError(RelinterpError):
    """A library a program needs (or --include names) is nowhere the loader looks."""


class TreeConflictError(RelinterpError):
    """Two files for one place in a release tree, or a target that is not a release tree."""


class StageError(RelinterpError):
    """An entry of an install prefix that a release tree cannot mirror: a symbolic link
    leaving it, a device, a FIFO, a socket."""


class MissingToolError(RelinterpError):
    """A tool the operation needs (patchelf) is not installed."""


class TraceError(RelinterpError):
    """A traced run (bundle --trace, --trace-cmd) that failed, or a program that cannot be
    traced here: what it loads at run time is unknown, so nothing is bundled."""


class BrokenInstallationError(RelinterpError):
    """relinterp's own files do not match its manifest: reinstall it.  Named after what
    is broken (e.g. "stub x86_64"), reported as "relinterp: broken installation: ..."."""

    def __init__(self, detail: str) -> None:
        super().__init__("relinterp", f"broken installation: {detail}")
        self.detail = detail


class SandboxUnavailableError(RelinterpError):
    """`verify --run` cannot make an empty root on this machine: nothing was run, and no
    program is judged by it.  The message says what to install or enable."""

    exit_code = EXIT_NO_SANDBOX

    def __init__(self, reason: str, path: str | os.PathLike[str] = "relinterp") -> None:
        super().__init__(path, reason)


class EmulatorUnavailableError(SandboxUnavailableError):
    """`verify --run` of programs for another machine, and no emulator here that can run
    in the empty root: nothing was run.  The message names the package to install."""


class OutsideSysrootError(RelinterpError):
    """A file found for a tree for another machine lies outside the sysroot (and outside
    the build directory it was found in): a file of this machine would go into the tree."""


class BundleError(RelinterpError):
    """A release tree that cannot be made as asked.  Every problem found is listed, one
    "PATH: reason" line each, and nothing was written."""

    def __init__(self, target: str | os.PathLike[str], problems: list[RelinterpError]) -> None:
        count = len(problems)
        super().__init__(target, f"nothing written ({count} problem{'s' if count != 1 else ''})")
        self.problems = tuple(problems)

    def __str__(self) -> str:
        return "\n".join([*(str(p) for p in self.problems), f"{self.path}: {self.reason}"])

