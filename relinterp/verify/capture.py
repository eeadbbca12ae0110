"""Run a command for at most a given time and keep a bounded part of what it writes: the
first and the last HALF bytes of each stream, with the number left out between them, so
that the memory this takes stays flat however much the command writes.

The command runs in a session of its own, with /dev/null as stdin.  At the time limit it
gets SIGTERM and DRAIN seconds to end what it started; then, or on any error, its whole
session is killed.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass

HALF = 512 << 10  # kept from the start, and from the end, of each stream
CHUNK = 64 << 10
# Seconds the command has, after SIGTERM, to end what it started: a sandbox ends when the
# kernel has killed its last process, which can take long for a thousand of them on a
# loaded machine.
DRAIN = 120.0


@dataclass(frozen=True)
class Captured:
    """What a stream held: its first and last bytes, and how many between them were left out."""

    head: bytes = b""
    tail: bytes = b""
    omitted: int = 0

    def text(self) -> str:
        """The whole of it when nothing was left out; else head, a line saying how much
        was left out, and tail."""
        head, tail = (part.decode("utf-8", errors="replace") for part in (self.head, self.tail))
        if not self.omitted:
            return head + tail
        between = "" if not head or head.endswith("\n") else "\n"
        return f"{head}{between}[... {self.omitted} bytes left out ...]\n{tail}"


class _Keeper:
    """Collects a stream's head and tail as it arrives."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.seen = 0

    def add(self, data: bytes) -> None:
        self.seen += len(data)
        room = HALF - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail += data
        if len(self.tail) > 2 * HALF:  # trimmed now and then, not at every chunk
            del self.tail[:-HALF]

    def captured(self) -> Captured:
        tail = bytes(self.tail[-HALF:])
        return Captured(bytes(self.head), tail, self.seen - len(self.head) - len(tail))


@dataclass(frozen=True)
class Finished:
    status: int | None  # exit status; negative: killed by that signal; None: timed out
    stdout: Captured
    stderr: Captured


def run_captured(command: list[str], *, timeout: float, **popen) -> Finished:
    """Run `command` (subprocess.Popen's other arguments in `popen`) for at most
    `timeout` seconds; its output, bounded."""
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True, **popen)
    keepers = {process.stdout: _Keeper(), process.stderr: _Keeper()}
    timed_out = False
    try:
        timed_out = not _read(keepers, time.monotonic() + timeout)
        if timed_out:
            process.send_signal(signal.SIGTERM)
            _read(keepers, time.monotonic() + DRAIN)
    finally:
        _kill(process)  # on any error too: nothing of it outlives the run
        for stream in keepers:
            stream.close()
        status = process.wait()
    out, err = (keeper.captured() for keeper in keepers.values())
    return Finished(None if timed_out else status, out, err)


def _read(keepers: dict, deadline: float) -> bool:
    """Read the streams until both are closed (True) or the deadline passes (False)."""
    with selectors.DefaultSelector() as selector:
        for stream in keepers:
            if not stream.closed:
                selector.register(stream, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            for key, _ in selector.select(left):
                data = os.read(key.fileobj.fileno(), CHUNK)
                if data:
                    keepers[key.fileobj].add(data)
                else:
                    selector.unregister(key.fileobj)
    return True


def _kill(process: subprocess.Popen) -> None:
    """SIGKILL to the command's session (its process group: the session was made for it)."""
    if process.returncode is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
