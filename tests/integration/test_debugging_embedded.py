"""gdb on a program whose loader is embedded in it reads as on the unpatched program:
a pending breakpoint in a dlopen()ed plugin is hit, the crash's backtrace names the
functions, the libraries' symbols are read, glibc's threads and TLS come through
libthread_db.  One thing differs, by design: the loader is part of the program's file,
so `info sharedlibrary` does not list it (its link-map entry has no name) and its
functions are named from the program's symbol table.  gdb breaks on the loader's own
`_dl_debug_state` (the patch names it in the program), so this works under qemu-user's
gdbstub too, without the `set solib-search-path` step a loader found at run time needs."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from conftest import HIDE_MUSL, ShippedTree, relinterp, run_hidden
from debug_support import CRASH_SESSION, Transcript, Variant, gdb, gdb_under_qemu, toolchain

# What a session shows of the program and its libraries: the loader's entry and the
# frames past main (inside the loader for musl) are where an embedded loader differs.
SEEN_FROM_THE_PROGRAM = ("plugin_fn", "run_plugin", "main")


def comparable(session: Transcript) -> Transcript:
    return replace(session, frames=session.frames[:3],
                   libraries=tuple(entry for entry in session.libraries if entry[0] != "loader"))


@pytest.fixture(scope="module")
def embedded(debuggees, tmp_path_factory):
    """embedded(variant): the unpatched tree, its program patched with its loader embedded
    (and glibc's libc.so.6 shipped in lib/, as with a loader found at run time)."""
    made = {}

    def make(variant: Variant) -> ShippedTree:
        if variant.name not in made:
            root = tmp_path_factory.mktemp("embedded") / variant.name
            shutil.copytree(debuggees.tree(variant, False).root, root, symlinks=True)
            tools = toolchain(variant.libc, variant.arch)
            if tools.libc is not None:
                shutil.copy2(tools.libc, root / "lib" / "libc.so.6")
            result = relinterp("patch", root / "bin" / "app", "--embed-loader", tools.loader)
            assert result.returncode == 0, result.stderr
            made[variant.name] = ShippedTree(root)
        return made[variant.name]

    return make


@pytest.mark.parametrize("variant", [Variant("musl", True, False), Variant("musl", False, False),
                                     Variant("glibc", True, False)], ids=lambda v: v.name)
def test_crash_session_reads_as_on_the_unpatched_program(debuggees, embedded, variant):
    unpatched = Transcript.parse(gdb(["--args", debuggees.tree(variant, False).app, "crash"], CRASH_SESSION))
    session = Transcript.parse(gdb(["--args", embedded(variant).app, "crash"], CRASH_SESSION))
    assert unpatched.breakpoint_hit and unpatched.frames[:3] == SEEN_FROM_THE_PROGRAM
    assert ("libcrash.so", "Yes") in unpatched.libraries and ("loader", "Yes") in unpatched.libraries
    assert comparable(session) == comparable(unpatched)
    assert "loader" not in dict(session.libraries)
    if variant.libc == "glibc":
        assert session.threads == ("Thread",) * 4 and session.tls_var == "42"


def test_with_no_system_loader_gdb_stops_in_the_embedded_loader_by_its_functions_name(debuggees, embedded,
                                                                                       namespace):
    variant = Variant("musl", pie=True, stripped=False)
    tree = embedded(variant)
    assert run_hidden([debuggees.tree(variant, False).app, "load"]).returncode != 0  # control
    text = gdb(["--args", tree.app, "crash"], ["break dlopen", "break plugin_fn", "run", "continue", "continue",
                                               "bt"], prefix=["unshare", "-m", "sh", "-c", HIDE_MUSL, "sh"])
    assert "Breakpoint 1, 0x" in text and " in dlopen ()" in text  # musl's dlopen, named from the program
    session = Transcript.parse(text)
    assert session.breakpoint_hit and session.crashed and session.frames[:3] == SEEN_FROM_THE_PROGRAM


def test_under_qemu_gdb_follows_the_libraries_from_the_start(embedded):
    variant = Variant("musl", True, False, "aarch64")
    session = Transcript.parse(gdb_under_qemu("aarch64", [embedded(variant).app, "crash"],
                                              ("break plugin_fn", "continue", "continue", "bt", "info sharedlibrary")))
    assert session.breakpoint_hit and session.crashed and session.frames[:3] == SEEN_FROM_THE_PROGRAM
    assert dict(session.libraries) == {"libtls.so": "Yes", "libcrash.so": "Yes"}


@pytest.mark.parametrize("libc", ["musl", "glibc"])
def test_a_core_file_has_the_backtrace_and_the_libraries(debuggees, embedded, libc, tmp_path):
    variant = Variant(libc, pie=True, stripped=False)
    seen = {}
    for name, app in (("unpatched", debuggees.tree(variant, False).app), ("embedded", embedded(variant).app)):
        core = tmp_path / f"core-{name}"
        gdb(["--args", app, "crash"], ["run", f"generate-core-file {core}"])
        seen[name] = comparable(Transcript.parse(gdb([app, core], ["bt", "info sharedlibrary"])))
    assert seen["unpatched"].frames[0] == "plugin_fn" and ("libcrash.so", "Yes") in seen["unpatched"].libraries
    assert seen["embedded"] == seen["unpatched"]
