"""The one way out: every line relinterp prints goes through `say`, every --json
document through `say_json`.

Text is for people, and what it shows comes from files (paths, NEEDED names, RUNPATH,
interpreters), which may hold anything: an escape sequence would reach the terminal, a
newline would forge a line of output.  So every control character but TAB is shown
escaped (`\\n`, `\\r`, `\\xNN`; C1 controls `\\xNN` too), and so is each byte of a name
that is not UTF-8 (`\\xNN`): relinterp.errors.printable, which error messages use too.  JSON keeps every character exactly (json escapes
controls itself); bytes that are not UTF-8 cannot be a JSON string, so they are
written the same way, `\\xNN` (the characters backslash, x and two hex digits), and
every strict parser reads the document.  `--json` gives the exact value of anything else.

A closed standard output (`relinterp patch -r dist | head -1`) does not stop the work:
what would have been printed is dropped, silently, and the run goes on to its end and
its usual exit status (and so does a closed standard error).
"""

from __future__ import annotations

import errno
import os
import re
import sys

from ..errors import printable

_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # os.fsdecode's stand-ins for bytes that are not UTF-8
_closed: set[str] = set()  # "stdout", "stderr": found closed, no longer written to


def json_safe(value):
    """`value` (a document) with the bytes that are not UTF-8 in its strings (keys too)
    written as `\\xNN` (as printable() writes them): what json.dumps then makes of it is
    valid JSON."""
    if isinstance(value, str):
        return _NOT_UTF8.sub(lambda m: printable(m.group()), value)
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def say(line: str, err: bool = False) -> None:
    """Print one line (escaped) on stdout, or stderr with `err`."""
    _write("stderr" if err else "stdout", printable(line) + "\n")


def say_json(document) -> None:
    import json

    _write("stdout", json.dumps(json_safe(document), indent=2) + "\n")


def _write(name: str, text: str) -> None:
    if name in _closed:
        return
    stream = getattr(sys, name)
    try:
        stream.write(text)
        stream.flush()
    except OSError as error:
        if error.errno != errno.EPIPE:
            raise
        _close(name, stream)


def _close(name: str, stream) -> None:
    """Stop writing to a stream whose reader went away; what it still buffers goes to
    /dev/null, so that neither a later write nor the flush at exit fails."""
    _closed.add(name)
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, stream.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):  # not a file descriptor (a test's capture)
        pass
