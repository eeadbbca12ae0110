"""gdb on a patched program shows what it shows on the unpatched one: a breakpoint set
before `run` in a dlopen()ed plugin is hit, a crash's backtrace names the functions, the
libraries' symbols are read, glibc's threads come through libthread_db, a thread-local
variable prints, and attaching and core files work."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
from elftools.elf.elffile import ELFFile

from conftest import HIDE_MUSL, run, run_hidden, unavailable
from debug_support import CRASH_SESSION, I386_VARIANTS, VARIANTS, Transcript, Variant, gdb


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_crash_session_reads_the_same_as_on_the_unpatched_program(debuggees, variant: Variant):
    sessions = {patched: Transcript.parse(gdb(["--args", debuggees.tree(variant, patched).app, "crash"], CRASH_SESSION))
                for patched in (False, True)}
    unpatched = sessions[False]
    assert unpatched.breakpoint_hit and unpatched.crashed
    assert unpatched.frames[0] == "plugin_fn"
    assert dict(unpatched.libraries) == {"loader": "Yes", "libtls.so": "Yes", "libcrash.so": "Yes",
                                         **({"libc.so.6": "Yes"} if variant.libc == "glibc" else {})}
    if variant.libc == "glibc":
        assert unpatched.threads == ("Thread",) * 4 and unpatched.tls_var == "42"
    assert sessions[True] == unpatched


@pytest.mark.parametrize("variant", [v for v in I386_VARIANTS if v.libc == "musl"], ids=lambda v: v.name)
def test_i386_crash_session_reads_the_same_as_on_the_unpatched_program(debuggees, variant: Variant):
    sessions = [Transcript.parse(gdb(["--args", debuggees.tree(variant, patched).app, "crash"], CRASH_SESSION))
                for patched in (False, True)]
    assert sessions[0].breakpoint_hit and sessions[0].frames[0] == "plugin_fn"
    assert sessions[1] == sessions[0]


def test_i386_glibc_crash_session_has_threads_tls_and_libraries(debuggees):
    """The machine has no i386 glibc to run the unpatched program with: what it would show."""
    tree = debuggees.tree(Variant("glibc", True, False, "i386"), patched=True)
    session = Transcript.parse(gdb(["--args", tree.app, "crash"], CRASH_SESSION))
    assert session.breakpoint_hit and session.crashed and session.tls_var == "42"
    assert session.threads == ("Thread",) * 4
    assert session.frames == ("plugin_fn", "run_plugin", "main")
    assert dict(session.libraries) == {"loader": "Yes", "libtls.so": "Yes", "libcrash.so": "Yes", "libc.so.6": "Yes"}


def test_gdb_follows_the_shipped_musl_loader_where_the_system_one_is_hidden(debuggees, namespace):
    variant = Variant("musl", pie=True, stripped=False)
    tree = debuggees.tree(variant, patched=True)
    control = run_hidden([debuggees.tree(variant, patched=False).app, "load"])
    assert control.returncode != 0, "the unpatched program must not start without the system loader"
    hidden = Transcript.parse(gdb(["--args", tree.app, "crash"], CRASH_SESSION, prefix=["unshare", "-m", "sh", "-c",
                                                                             HIDE_MUSL, "sh"]))
    present = Transcript.parse(gdb(["--args", debuggees.tree(variant, patched=False).app, "crash"], CRASH_SESSION))
    assert hidden.breakpoint_hit and hidden == present


@pytest.mark.parametrize("libc", ["musl", "glibc"])
def test_attaching_shows_the_libraries_and_threads(debuggees, libc):
    variant = Variant(libc, pie=True, stripped=False)
    seen = {}
    for patched in (False, True):
        app = debuggees.tree(variant, patched).app
        with subprocess.Popen([app, "wait"], stdout=subprocess.PIPE, text=True) as process:
            try:
                assert process.stdout.readline().startswith("ready")
                text = gdb(["-p", str(process.pid)], ["info threads", "print tls_var", "info sharedlibrary"])
            finally:
                process.kill()
        seen[patched] = Transcript.parse(text)
    assert len(seen[False].threads) == 4 and ("libtls.so", "Yes") in seen[False].libraries
    assert seen[True] == seen[False]


@pytest.mark.parametrize("libc", ["musl", "glibc"])
def test_core_file_of_a_crash_has_the_backtrace_and_libraries(debuggees, libc, tmp_path):
    variant = Variant(libc, pie=True, stripped=False)
    seen = {}
    for patched in (False, True):
        app, core = debuggees.tree(variant, patched).app, tmp_path / f"core-{patched}"
        gdb(["--args", app, "crash"], ["run", f"generate-core-file {core}"])
        seen[patched] = Transcript.parse(gdb([app, core], ["bt", "info sharedlibrary"]))
    assert seen[False].frames[0] == "plugin_fn" and ("libcrash.so", "Yes") in seen[False].libraries
    assert seen[True] == seen[False]


REDIRECTED = "relinterp: debugger: the loader's _dl_debug_state jumps to the program's"
# prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN): from here on, through exec, no mapping may
# become writable and executable (Linux 6.3) - a W^X policy like SELinux's execmod.
REFUSE_WRITABLE_CODE = ("import ctypes, os, sys\n"
                        "if ctypes.CDLL(None).prctl(65, 1, 0, 0, 0): sys.exit('no PR_SET_MDWE')\n"
                        "os.execvp(sys.argv[1], sys.argv[1:])\n")


@pytest.mark.parametrize("libc", ["musl", "glibc"])
def test_the_loader_is_changed_only_under_a_debugger(debuggees, libc):
    app = debuggees.tree(Variant(libc, pie=True, stripped=False), patched=True).app
    alone = run([app, "load"], env={"RELINTERP_DEBUG": "1"}, text=True)
    assert alone.returncode == 0 and "entering the loader" in alone.stderr
    assert REDIRECTED not in alone.stderr
    assert REDIRECTED in gdb(["--args", app, "load"], ["set environment RELINTERP_DEBUG=1", "run"])


def test_where_code_cannot_be_made_writable_the_program_runs_as_without_a_debugger(debuggees):
    app = debuggees.tree(Variant("musl", pie=True, stripped=False), patched=True).app
    probe = run([sys.executable, "-c", REFUSE_WRITABLE_CODE, "true"], text=True)
    if probe.returncode != 0:
        pytest.skip(f"this kernel cannot refuse writable code: {probe.stderr.strip()}")
    text = gdb(["--args", app, "load"], ["set environment RELINTERP_DEBUG=1", "break plugin_fn", "run"],
               prefix=[sys.executable, "-c", REFUSE_WRITABLE_CODE])
    assert "plugin returned 7, tls_var 42" in text and "exited normally" in text
    assert "entering the loader" in text and REDIRECTED not in text


def test_a_loader_whose_debug_hook_is_not_a_bare_return_is_left_alone(debuggees, tmp_path):
    tree = debuggees.tree(Variant("musl", pie=True, stripped=False), patched=True)
    copy = tmp_path / "tree"
    shutil.copytree(tree.root, copy, symlinks=True)
    loader = copy / "lib" / "ld-musl.so"
    with open(loader, "rb") as stream:
        elf = ELFFile(stream)
        hook = elf.get_section_by_name(".dynsym").get_symbol_by_name("_dl_debug_state")[0]["st_value"]
        offset = next(elf.address_offsets(hook))
    data = bytearray(loader.read_bytes())
    assert data[offset] == 0xC3  # ret; the padding after it is never executed
    data[offset + 1] = 0x48  # a REX prefix: not padding, so maybe code
    loader.write_bytes(data)
    text = gdb(["--args", copy / "bin" / "app", "load"], ["set environment RELINTERP_DEBUG=1", "run"])
    assert "plugin returned 7, tls_var 42" in text and "entering the loader" in text
    assert REDIRECTED not in text


@pytest.mark.parametrize("libc", ["musl", "glibc"])
def test_ltrace_shows_the_programs_library_calls_as_on_the_unpatched_program(debuggees, libc):
    if shutil.which("ltrace") is None:
        pytest.skip("ltrace is not installed (apt-get install ltrace)")
    calls = {}
    for patched in (False, True):
        text = run(["ltrace", "-f", debuggees.tree(Variant(libc, True, False), patched).app, "load"], text=True).stderr
        calls[patched] = sorted(re.findall(r"^(?:\[pid \d+\] )?(\w+)\(", text, re.M))
    assert {"dlopen", "tls_bump", "pthread_create"} <= set(calls[False])
    assert calls[True] == calls[False]


@pytest.mark.parametrize("libc", ["musl", "glibc"])
def test_gdb_dprintf_traces_a_function_of_a_dlopened_library(debuggees, libc):
    """What `ltrace -x plugin_fn` cannot do on a patched program (docs/debugging.md)."""
    app = debuggees.tree(Variant(libc, True, False), patched=True).app
    text = gdb(["--args", app, "load"], ['dprintf plugin_fn,"traced plugin_fn(%d)\\n",crash', "run"])
    assert "traced plugin_fn(0)" in text and "plugin returned 7" in text


def test_stripped_after_patching_gdb_follows_the_loader_if_the_symbol_is_kept(debuggees):
    tree = debuggees.tree(Variant("musl", True, False), patched=True)
    sessions = {}
    for keep in (False, True):
        app = tree.root / "bin" / f"app-{keep}"
        assert run(["strip", *(["-K", "_dl_debug_state"] if keep else []), tree.app, "-o", app]).returncode == 0
        sessions[keep] = Transcript.parse(gdb(["--args", app, "crash"], CRASH_SESSION))
    assert sessions[True].breakpoint_hit and ("libcrash.so", "Yes") in sessions[True].libraries
    assert not sessions[False].breakpoint_hit  # docs/debugging.md, Limitations


@pytest.mark.parametrize("libc", ["musl", "glibc"])
def test_dwz_compresses_a_patched_programs_debug_info_and_gdb_reads_it_after(debuggees, libc, tmp_path):
    """dwz (run by Debian's dh_dwz, rpm's find-debuginfo) rewrites what is not loaded and
    refuses a loaded section after it: the stub comes before the debug info."""
    dwz = shutil.which("dwz")
    if dwz is None:
        unavailable("dwz is needed (scripts/setup.sh installs it)")
    tree = debuggees.tree(Variant(libc, True, False), patched=True)
    app = tree.root / "bin" / "app-dwz"
    shutil.copy2(tree.app, app)
    before = app.stat().st_size
    result = run([dwz, app], text=True)
    assert result.returncode == 0, result.stderr
    assert app.stat().st_size < before  # it did compress
    assert run([sys.executable, "-m", "relinterp", "inspect", app], text=True).stdout.count("patched: yes") == 1
    ran = run([app, "load"], text=True)
    assert ran.returncode == 0 and "plugin returned 7" in ran.stdout, ran.stderr
    unpatched = Transcript.parse(gdb(["--args", debuggees.tree(Variant(libc, True, False), False).app, "crash"],
                                     CRASH_SESSION))
    assert Transcript.parse(gdb(["--args", app, "crash"], CRASH_SESSION)) == unpatched
    listing = gdb([app], ["info line main", "info scope main"])
    assert re.search(r'Line \d+ of ".*app\.c"', listing), listing  # the line table, read after dwz


def test_debug_info_split_after_patching_serves_gdb_and_eu_unstrip(debuggees, tmp_path):
    """docs/debugging.md: split the debug info off *after* patching (objcopy
    --only-keep-debug, strip --strip-debug, a debuglink): gdb reads it with the program, and
    eu-unstrip puts it back."""
    tree = debuggees.tree(Variant("musl", True, False), patched=True)
    app, debug = tree.root / "bin" / "app-split", tree.root / "bin" / "app-split.debug"
    shutil.copy2(tree.app, app)
    for command in (["objcopy", "--only-keep-debug", app, debug], ["strip", "--strip-debug", app],
                    ["objcopy", f"--add-gnu-debuglink={debug}", app]):
        assert run(command).returncode == 0, command
    with open(app, "rb") as stream:
        assert ELFFile(stream).get_section_by_name(".debug_info") is None
    text = gdb([app], ["info line main", "info sources"])
    assert re.search(r'Line \d+ of ".*app\.c"', text) and "warning" not in text, text
    unpatched = Transcript.parse(gdb(["--args", debuggees.tree(Variant("musl", True, False), False).app, "crash"],
                                     CRASH_SESSION))
    assert Transcript.parse(gdb(["--args", app, "crash"], CRASH_SESSION)) == unpatched
    whole = tmp_path / "app-whole"
    unstripped = run(["eu-unstrip", app, debug, "-o", whole], text=True)
    assert unstripped.returncode == 0, unstripped.stderr
    with open(whole, "rb") as stream:
        assert ELFFile(stream).get_section_by_name(".debug_info") is not None
    assert "patched: yes" in run([sys.executable, "-m", "relinterp", "inspect", whole], text=True).stdout
