"""How far a long copy or archive has got, on one line of a terminal rewritten in place.

Only where someone watches: on a pipe or in a log nothing is written unless asked
(`bundle --progress`), so that CI logs hold results, not carriage returns.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

INTERVAL = 0.2  # seconds between updates: fast enough to watch, cheap enough to ignore
MIB = 1 << 20


class Progress:
    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.what, self.total, self.done, self.shown_at = "", 0, 0, 0.0

    def start(self, what: str, total: int) -> None:
        self.what, self.total, self.done, self.shown_at = what, total, 0, 0.0
        self._show()

    def advance(self, amount: int) -> None:
        self.done += amount
        if time.monotonic() - self.shown_at >= INTERVAL:
            self._show()

    def finish(self) -> None:
        if self.enabled and self.what:
            self._show()
            self._write("\n")
        self.what = ""

    def _show(self) -> None:
        if not self.enabled:
            return
        self.shown_at = time.monotonic()
        percent = min(100, 100 * self.done // self.total) if self.total else 100
        self._write(f"\r{self.what}: {percent:3d}% ({self.done / MIB:.1f} of {self.total / MIB:.1f} MiB)")

    def _write(self, text: str) -> None:
        """Show `text`; a reader that went away (a closed pipe) ends the showing, not the work."""
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError:
            self.enabled = False


SILENT = Progress(enabled=False)
