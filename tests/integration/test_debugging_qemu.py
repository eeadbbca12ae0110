"""gdb-multiarch on patched programs for aarch64, arm, riscv64, ppc64le and s390x run by qemu-user.

qemu's gdbstub keeps breakpoints in the emulator, not in the program's memory, so the
stub cannot see a debugger there and leaves the loader alone (stub/debug_hook.h): gdb
learns of the libraries once the program reaches main and `set solib-search-path` makes
it look again (docs/debugging.md).  From there it reads as on the unpatched program."""

from __future__ import annotations

import pytest

from debug_support import QEMU_VARIANTS, Transcript, Variant, gdb_under_qemu

SESSION = ("break main", "continue", "set solib-search-path", "break plugin_fn", "continue", "continue",
           "bt", "info sharedlibrary")


@pytest.mark.parametrize("variant", [v for v in QEMU_VARIANTS if v.arch != "riscv64"], ids=lambda v: v.name)
def test_after_main_gdb_follows_the_loader_as_on_the_unpatched_program(debuggees, variant: Variant):
    seen = [Transcript.parse(gdb_under_qemu(variant.arch, [debuggees.tree(variant, patched).app, "crash"], SESSION))
            for patched in (False, True)]
    assert seen[0].breakpoint_hit and seen[0].crashed and seen[0].frames[0] == "plugin_fn"
    assert ("libcrash.so", "Yes") in seen[0].libraries
    assert seen[1] == seen[0]


def test_riscv64_after_main_gdb_follows_the_loader(debuggees):
    """The unpatched riscv64 program needs qemu's -L prefix for its loader, which gdb
    cannot share with the patched one: checked alone."""
    tree = debuggees.tree(Variant("musl", True, False, "riscv64"), patched=True)
    seen = Transcript.parse(gdb_under_qemu("riscv64", [tree.app, "crash"], SESSION))
    assert seen.breakpoint_hit and seen.crashed and seen.frames[:3] == ("plugin_fn", "run_plugin", "main")
    assert dict(seen.libraries) == {"loader": "Yes", "libtls.so": "Yes", "libcrash.so": "Yes"}
