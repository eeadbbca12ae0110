"""What each run did, in classes both sides share, and whether the stub agreed with the
kernel — or differed in a way docs/robustness.md lists, or in a way it does not.

Classes: ran (with its exit status and output), refused (the kernel's execve failed or
it killed the process before its first instruction; the stub exited 127 with its one
line), crashed (a fatal signal outside the stub's code: in the loader, the program or
nowhere), hung, and fault-in-stub (a fatal signal whose instruction is in the stub's
segment of the patched program), which is never allowed.
"""

from __future__ import annotations

import errno
import functools
import signal
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .case import ROOT, Case
from .elf import LoaderImage
from .run import LOADERS, Programs, Side

STUB_LINE = ": relinterp: no usable loader: {loader} ("
EXIT_NO_LOADER = 127
DOCS = Path(__file__).resolve().parents[2] / "docs" / "robustness.md"


@dataclass(frozen=True)
class Outcome:
    kind: str  # ran, refused, crashed, hung, fault-in-stub
    detail: str  # ran: "exit N: OUTPUT"; refused: errno name or stub reason; crashed: signal and where

    def __str__(self) -> str:
        return f"{self.kind} ({self.detail})"


def signal_name(number: str) -> str:
    try:
        return signal.Signals(int(number)).name
    except ValueError:
        return f"signal {number}"


def where(side: Side, programs: Programs, patched: bool) -> str:
    path, _, offset = side.report.get("map", "-").rpartition("@")
    if path == str(programs.loader):
        return "in the loader"
    if patched and path == str(programs.stub):
        low, high = programs.stub_code
        return "in the stub" if low <= int(offset, 16) < high else "in the program"
    return "in the program" if path in (str(programs.kernel), str(programs.stub)) else "outside any file"


def stub_reason(stderr: str, programs: Programs) -> str | None:
    """The reason in the stub's one line about the loader, if it wrote that line."""
    words = STUB_LINE.format(loader=programs.loader)
    for line in stderr.splitlines():
        if words in line and line.endswith(")"):
            return line.split(words, 1)[1][:-1]
    return None


def classify(side: Side, programs: Programs, patched: bool) -> Outcome:
    r = side.report
    outcome = r.get("outcome")
    if outcome == "exec-error":
        return Outcome("refused", errno.errorcode.get(int(r["errno"]), r["errno"]))
    if outcome == "exec-killed":
        return Outcome("refused", f"killed by {signal_name(r['signal'])} before its first instruction")
    if outcome == "timeout":
        return Outcome("hung", "killed after the time limit")
    if outcome == "signal":
        place = where(side, programs, patched)
        kind = "fault-in-stub" if place == "in the stub" else "crashed"
        return Outcome(kind, f"{signal_name(r['signal'])} at {r['pc']} {place}")
    if outcome == "exit":
        status = int(r["status"])
        reason = stub_reason(side.stderr, programs) if patched and status == EXIT_NO_LOADER else None
        if reason is not None:
            return Outcome("refused", reason)
        return Outcome("ran", f"exit {status}: {side.stdout!r}")
    raise RuntimeError(f"the tracer failed: {r} {side.stderr!r}")


@dataclass(frozen=True)
class Difference:
    """A way the stub knowingly differs from the kernel, and the words of
    docs/robustness.md that say so (which must be there)."""

    name: str
    doc: str
    covers: Callable[[Case, Outcome, Outcome], bool]  # (case, kernel, stub): is this the difference?


def executable_not_readable(case: Case) -> bool:
    if case.identity == ROOT or case.kind != "regular":
        return False
    who = case.identity
    shift = 6 if case.owner == who.uid else 3 if case.group in (who.gid, *who.groups) else 0
    bits = (case.mode >> shift) & 7
    return bool(bits & 1) and not bits & 4


def image(case: Case) -> LoaderImage | None:
    try:
        img = LoaderImage(case.data)
        img.span()
        return img
    except (IndexError, KeyError, OverflowError, ValueError, struct.error):
        return None


def uses_memory_past_its_image(case: Case, kernel: Outcome, stub: Outcome) -> bool:
    """The loader writes, or changes the protection of, memory past its segments: its bss
    cut short, or a PT_GNU_RELRO (or the like) moved past them.  The kernel maps nothing
    there (the loader faults, or gives up); the stub's page after the image and then the
    patched program are there."""
    if (kernel.kind == "ran" and kernel.detail.startswith("exit 0:")) or stub.kind == "fault-in-stub":
        return False
    img = image(case)
    return img is not None and (img.image_end() < original_end(case.arch) or img.reaches_past_image())


@functools.cache
def original_end(arch: str) -> int:
    """Where the unmodified loader's image ends (read once per architecture)."""
    return LoaderImage(LOADERS[arch].read_bytes()).image_end()


def too_large_for_the_kernels_hole(case: Case, kernel: Outcome, stub: Outcome) -> bool:
    """A loader of a gigabyte or more the kernel finds no room for (i386): it places the
    program at ELF_ET_DYN_BASE, in the middle of the address space; the patched program,
    without PT_INTERP, goes near the mmap base and leaves the rest in one piece."""
    img = image(case)
    return (img is not None and img.span() >= 1 << 30 and kernel.detail.startswith("killed by")
            and stub.kind != "fault-in-stub")


def placed_from_the_lowest(case: Case, kernel: Outcome, stub: Outcome) -> bool:
    """PT_LOADs out of order: the kernel reserves the span from the first one's address and
    maps the lower ones below it, where they may not fit."""
    img = image(case)
    return img is not None and img.loads_out_of_order() and kernel.kind != "ran" and stub.kind != "fault-in-stub"


DOCUMENTED = (
    Difference("write-busy", "A loader another process holds open for writing",
               lambda case, kernel, stub: case.writer and kernel.detail == "ETXTBSY"),
    Difference("exec-only", "A loader its user may execute but not read",
               lambda case, kernel, stub: executable_not_readable(case) and stub.detail == "Permission denied"),
    Difference("past-eof", "A segment whose file pages reach past the last page of the file",
               lambda case, kernel, stub: stub.detail == "segment past the end of the file (truncated?)"),
    Difference("first-load-empty", "A first `PT_LOAD` with no file bytes",
               lambda case, kernel, stub: stub.detail == "first PT_LOAD segment has no file bytes"),
    Difference("past-the-image", "A loader that uses memory past the end of its segments",
               uses_memory_past_its_image),
    Difference("too-large", "A loader image of a gigabyte or more on i386", too_large_for_the_kernels_hole),
    Difference("out-of-order", "`PT_LOAD`s out of order, the first not the lowest", placed_from_the_lowest),
)
VERDICTS = {  # (kernel, stub) -> verdict; anything else agrees
    ("ran", "refused"): "the stub refuses a loader the kernel runs",
    ("ran", "crashed"): "the stub breaks a loader the kernel runs",
    ("ran", "hung"): "the stub breaks a loader the kernel runs",
    ("refused", "ran"): "the stub runs a loader the kernel refuses",
    ("refused", "crashed"): "the stub maps a loader the kernel refuses",
    ("refused", "hung"): "the stub maps a loader the kernel refuses",
    ("crashed", "ran"): "the stub runs a loader that crashes when the kernel maps it",
    ("hung", "ran"): "the stub runs a loader that hangs when the kernel maps it",
}
KERNEL_REASONS = {"EACCES": "Permission denied", "ETXTBSY": "Text file busy"}


def verdict(kernel: Outcome, stub: Outcome) -> str | None:
    """None if the stub agrees with the kernel, else how it differs."""
    if stub.kind == "fault-in-stub":
        return "a fault in the stub's code"
    if kernel.kind == stub.kind == "ran":
        return None if kernel.detail == stub.detail else "both run it, to different ends"
    if kernel.kind == stub.kind == "refused" and kernel.detail in KERNEL_REASONS:
        words = KERNEL_REASONS[kernel.detail]
        return None if stub.detail.startswith(words) else f"refused for another reason than {words}"
    if stub.kind == "refused" and stub.detail.startswith("error "):
        return "a reason without a name"
    return VERDICTS.get((kernel.kind, stub.kind))


def documented(case: Case, kernel: Outcome, stub: Outcome) -> Difference | None:
    return next((d for d in DOCUMENTED if d.covers(case, kernel, stub)), None)


def undocumented_in_docs() -> list[str]:
    """The documented differences whose words docs/robustness.md does not have."""
    text = DOCS.read_text()
    return [d.doc for d in DOCUMENTED if d.doc not in text]
