"""What happened to a patched file after `relinterp patch`, in words for `inspect` and
`restore`: how a restored file differs from the original, and what a later tool did to
the patch (put PT_INTERP back, moved the entry point away from the stub).
"""

from __future__ import annotations

from ..elf.executable import find_stub_segment
from ..elf.model import Executable
from ..elf.record import RestoreRecord


def changes_since_patch(record: RestoreRecord, exe: Executable) -> tuple[str, ...]:
    """The recorded facts about the original (NEEDED, RUNPATH, RPATH) that `exe` no
    longer has; nothing for records without facts."""
    if record.sha256 is None:
        return ()
    facts = (("NEEDED", ", ".join(exe.needed) or None, ", ".join(record.needed) or None),
             ("RUNPATH", exe.runpath, record.runpath), ("RPATH", exe.rpath, record.rpath))
    return tuple(f"{tag} {_value(now)}, was {_value(was)}" for tag, now, was in facts if now != was)


def restore_differences(record: RestoreRecord, result: Executable) -> tuple[str, ...]:
    """How `result`, a file restored from a patched one, differs from the original
    `record` describes, as far as that is known."""
    found = list(changes_since_patch(record, result))
    if record.sha256 is None:
        found.append("no digest of the original was recorded (patched by an older relinterp): "
                      "identity with it cannot be proven")
    if result.interp != record.interp and record.interp is not None:
        found.append(f"PT_INTERP {_value(result.interp)}, was {record.interp}")
    was = len(record.phdrs) // result.phentsize
    if len(result.segments) != was:
        found.append(f"{len(result.segments)} program headers, were {was}")
    elif result.phdrs != record.phdrs:
        found.append("program headers differ (segments moved)")
    sections = result.layouts().ehdr.parse(record.header).e_shnum
    if result.shnum != sections:
        found.append(f"{result.shnum} section headers, were {sections}")
    if result.file_size != record.original_size:
        found.append(f"size {result.file_size} bytes, was {record.original_size}")
    return tuple(found) or ("content differs from the original (SHA-256 does not match)",)


def interop_notes(exe: Executable) -> tuple[str, ...]:
    """What a tool run after patching did to the patch, when it matters."""
    patch = exe.patch
    if patch is None:
        stub = _stub_left_behind(exe)
        return () if stub is None else (_interp_back(exe, stub.offset),)
    if not patch.segment.vaddr <= exe.entry < patch.segment.vaddr + patch.segment.filesz:
        return (f"the entry point {exe.entry:#x} no longer leads to relinterp's stub (at {patch.segment.vaddr:#x}): "
                "a tool changed it after patching, so the program does not find its loader; "
                "`relinterp restore` gives it its PT_INTERP back",)
    embedded = patch.config.embedded
    if embedded is not None and len(exe.segments) != embedded.program_phnum:
        return (f"{len(exe.segments)} program headers, the patch wrote {embedded.program_phnum}: a tool rewrote them "
                "after the loader was embedded, and the stub refuses to start the program; `relinterp restore` "
                "gives it its PT_INTERP back",)
    return ()


def not_patched_reason(exe: Executable, consequence: str) -> str:
    """Why `exe` does not count as patched, for a command that needs a patched file."""
    stub = _stub_left_behind(exe)
    if stub is not None:
        return f"not patched any more: {_interp_back(exe, stub.offset)}; {consequence}"
    return f"not patched by relinterp, {consequence}"


def _stub_left_behind(exe: Executable):
    """relinterp's stub segment in a file a tool gave PT_INTERP back to, if it is there."""
    return find_stub_segment(exe) if exe.interp is not None else None


def _interp_back(exe: Executable, offset: int) -> str:
    return (f"relinterp's stub is still in the file (at offset {offset:#x}) but PT_INTERP {exe.interp} is back: "
            f"a tool rewrote the program headers after patching, and the kernel starts the program with that loader")


def _value(value: str | None) -> str:
    return "(none)" if value is None else repr(value)
