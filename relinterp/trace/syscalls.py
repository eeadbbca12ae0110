"""strace's log, read back into system calls.

The log is written with `-f -y -xx` (relinterp.trace.run): every line starts with
the process id; every string is printed as `\\xNN` escapes, so a quote, comma, bracket or
newline in a path never reaches the text being split; a file descriptor is followed by
the file it names in angle brackets (`3</usr/lib/libz.so.1>`, `AT_FDCWD</home/me>`,
escaped the same way), the return value of an `open` too.

A call another process interrupts is split over two lines, `NAME(ARGS <unfinished ...>`
then `<... NAME resumed>REST`; they are joined before the call is read.  Lines that are
not a call (`+++ exited with 0 +++`, `--- SIGCHLD ... ---`) are passed over.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

UNFINISHED = " <unfinished ...>"
LINE = re.compile(r"(?P<pid>\d+)\s+(?:<\.\.\. (?P<resumed>\w+) resumed>(?P<rest>.*)|(?P<name>\w+)\((?P<args>.*))$")
RESULT = re.compile(r"(?P<value>-?\d+|0x[0-9a-fA-F]+|\?)(?:<(?P<fd>[^>]*)>)?(?:\s+(?P<errno>E[A-Z0-9]+))?")
FD = re.compile(r"(?P<fd>-?\d+|AT_FDCWD)(?:<(?P<path>[^>]*)>)?$")
ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)")
ALL_HEX = re.compile(rb"(?:\\x[0-9a-fA-F]{2})*")  # what -xx writes: a fast path
NAMED_ESCAPES = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b"v": b"\v", b"f": b"\f", b'"': b'"', b"\\": b"\\"}
CLOSERS = {"(": ")", "[": "]", "{": "}", "<": ">"}


@dataclass(frozen=True)
class Syscall:
    pid: int
    name: str  # e.g. "openat"
    args: tuple[str, ...]  # each argument as strace printed it (split at the top level)
    result: str  # "3", "-1", "0x7f...", "?"
    result_path: str | None = None  # the file a returned descriptor names (open*, with -y)
    errno: str | None = None  # "ENOENT" when the call failed

    @property
    def ok(self) -> bool:
        return self.errno is None and self.result != "?" and not self.result.startswith("-")


def read_syscalls(lines: Iterable[str]) -> Iterator[Syscall]:
    """The completed calls of a log, in the order they completed."""
    pending: dict[int, tuple[str, str]] = {}  # pid -> (name, arguments so far) of an unfinished call
    for line in lines:
        match = LINE.match(line.rstrip("\n"))
        if match is None:
            continue
        pid = int(match["pid"])
        if match["resumed"]:
            name, start = pending.pop(pid, (match["resumed"], ""))
            text = start + match["rest"]
        else:
            name, text = match["name"], match["args"]
        if text.endswith(UNFINISHED):
            pending[pid] = (name, text[: -len(UNFINISHED)])
            continue
        call = _complete(pid, name, text)
        if call is not None:
            yield call


def _complete(pid: int, name: str, text: str) -> Syscall | None:
    """`ARGS) = RESULT ...` read into a call; None when it has no result (a process that
    vanished mid-call)."""
    # Strings are escaped, so the last " = " separates the result (strace may pad before it).
    args, sep, outcome = text.rpartition(" = ")
    args = args.rstrip()
    if not sep or not args.endswith(")"):
        return None
    args = args[:-1]
    result = RESULT.match(outcome.strip())
    if result is None:
        return None
    return Syscall(pid, name, tuple(split_args(args)), result["value"], _fd_path(result["fd"]), result["errno"])


def split_args(text: str) -> list[str]:
    """The top-level arguments of a call: commas inside quotes, (), [], {} and <> do not
    split."""
    args, depth, start, quoted, escaped = [], [], 0, False, False
    for index, char in enumerate(text):
        if quoted:
            quoted = escaped or char != '"'
            escaped = not escaped and char == "\\"
        elif char == '"':
            quoted = True
        elif char in CLOSERS:
            depth.append(CLOSERS[char])
        elif depth and char == depth[-1]:
            depth.pop()
        elif char == "," and not depth:
            args.append(text[start:index].strip())
            start = index + 1
    tail = text[start:].strip()
    if tail or args:
        args.append(tail)
    return args


def string_arg(arg: str) -> str | None:
    """The text of a string argument (`"\\x2f\\x65..."`), None for NULL or an address."""
    if len(arg) < 2 or not arg.startswith('"'):
        return None
    end = arg.rfind('"')
    return os.fsdecode(unescape(arg[1:end].encode("latin-1")))


def fd_arg(arg: str) -> tuple[str, str | None] | None:
    """A descriptor argument: ("AT_FDCWD" or the number, the file it names or None)."""
    match = FD.match(arg)
    if match is None:
        return None
    return match["fd"], _fd_path(match["path"])


def unescape(data: bytes) -> bytes:
    """strace's C-style escapes (\\xNN, octal, \\n, \\", ...) back to the bytes they stand for."""
    if ALL_HEX.fullmatch(data):
        return bytes.fromhex(data.replace(b"\\x", b"").decode("ascii"))

    def one(match: re.Match) -> bytes:
        code = match.group(1)
        if code[:1] == b"x":
            return bytes([int(code[1:], 16)])
        if code[:1].isdigit():
            return bytes([int(code, 8) & 0xFF])
        return NAMED_ESCAPES.get(code, code)
    return ESCAPE.sub(one, data)


def _fd_path(text: str | None) -> str | None:
    """The file an `N<...>` decoration names: only paths count (not `socket:[1234]`,
    `pipe:[...]`, `anon_inode:...`); a deleted file's ` (deleted)` mark is dropped."""
    if text is None:
        return None
    path = os.fsdecode(unescape(text.encode("latin-1")))
    if not path.startswith("/"):
        return None
    return path.removesuffix(" (deleted)")
