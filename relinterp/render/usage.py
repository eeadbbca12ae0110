"""The --json document of a command line that could not be used: `relinterp patch
--json --bogus x > report.json` leaves a document saying so, not an empty file.  Its
envelope is the command's own (schema, command, exit_code), its lists empty, and
`usage_error` holds the message printed on stderr."""

from __future__ import annotations

from .. import __version__

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which costs `relinterp patch` the import of typing
if TYPE_CHECKING:
    from typing import Any

FILE_COMMANDS = ("patch", "restore", "inspect")
COMMANDS = (*FILE_COMMANDS, "ldd", "bundle", "verify")


def usage_document(command: str, message: str, exit_code: int) -> dict[str, Any]:
    """The document `command --json` prints for a usage error `message`."""
    if command in FILE_COMMANDS:
        from ..report import SCHEMA

        schema, lists = SCHEMA, {"files": [], "summary": {"files": 0}}
    elif command == "ldd":
        from .libraries import LDD_SCHEMA

        schema, lists = LDD_SCHEMA, {"files": []}
    else:
        from .trees import BUNDLE_SCHEMA, VERIFY_SCHEMA

        schema, lists = BUNDLE_SCHEMA if command == "bundle" else VERIFY_SCHEMA, {"errors": []}
    return {"relinterp": __version__, "schema": schema, "command": command, **lists, "usage_error": message,
            "exit_code": exit_code}
