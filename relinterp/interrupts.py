"""A run stopped by a signal (SIGINT, SIGTERM, SIGHUP): what it was writing is removed,
its workers stopped, then the process dies of that signal, as whoever sent it expects (a
shell prints nothing for SIGINT, and a job runner sees the signal).

The signal raises Interrupted where the run is, so that every writer's cleanup runs on
the way out, unless the run has hooks (a pool of workers, while it lives): they run in
the handler, which then ends the process at once.  A signal is never lost: should
Interrupted be swallowed (raised inside a finaliser, say), the process dies of the
signal when the run ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable

STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_received: list[int] = []
_hooks: list[Callable[[], None]] = []


class Interrupted(BaseException):
    """The run received `signum`: not an error of any input."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop(signum, frame) -> None:
    _received.append(signum)
    if _hooks:
        for hook in list(_hooks):
            hook()
        die_of(signum)
    raise Interrupted(signum)


@contextlib.contextmanager
def stopped_by_signals():
    """Within, a STOPPING signal stops the run (those the process ignores stay ignored:
    `nohup`, a background job's SIGINT); leaving, after one, die of it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = {number: signal.getsignal(number) for number in STOPPING}
    for number, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(number, _stop)
    try:
        yield
    except (Interrupted, KeyboardInterrupt) as stop:
        die_of(getattr(stop, "signum", signal.SIGINT))
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if _received:
        die_of(_received[0])


@contextlib.contextmanager
def on_stop(hook: Callable[[], None]):
    """Within, a stopping signal calls hook() in the handler, then ends the process."""
    _hooks.append(hook)
    try:
        yield
    finally:
        _hooks.remove(hook)


def die_of(signum: int) -> None:
    signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # not reached: the default action of each of them ends the process
