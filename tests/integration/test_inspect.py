"""`relinterp inspect`: what a file is, whether it is patched and with what, whether it
can be, and what it needs; from program headers, so stripped files read the same."""

from __future__ import annotations

import hashlib
import shutil

import pytest
from elftools.elf.elffile import ELFFile

import relinterp
from conftest import LOADER_REL, PROGRAMS, run
from relinterp.errors import EXIT_FAILED, EXIT_OK, NotElfError
from relinterp.rewrite.stub import load_stub
from report_support import copied, invoke, json_run, stripped, without_section_headers
from test_refusals import EXIT_START, assemble


def dynamic_entries(path) -> tuple[list[str], list[str]]:
    """(NEEDED, RUNPATH) as pyelftools reads them through the section headers: an
    independent oracle for relinterp's PT_DYNAMIC reader."""
    with open(path, "rb") as f:
        dynamic = ELFFile(f).get_section_by_name(".dynamic")
        needed = [t.needed for t in dynamic.iter_tags("DT_NEEDED")]
        runpath = [t.runpath for t in dynamic.iter_tags("DT_RUNPATH")]
    return needed, runpath


@pytest.mark.parametrize("variant", ["as built", "strip --strip-all", "no section headers"])
def test_unpatched_program_shows_its_identity_needs_and_that_it_can_be_patched(programs, tmp_path, variant):
    app = {"as built": copied, "strip --strip-all": stripped,
           "no section headers": without_section_headers}[variant](programs["probe"], tmp_path / "app")
    needed, runpath = dynamic_entries(programs["probe"])
    assert needed == ["libshared.so", "libc.so"] and runpath == ["$ORIGIN/../lib"]
    result = invoke("inspect", app)
    assert result.exit_code == EXIT_OK, result.stderr
    assert result.stdout.splitlines() == [
        f"{app}: ELF 64-bit little-endian EM_X86_64 ET_DYN (PIE), libc: musl",
        "  interpreter: /lib/ld-musl-x86_64.so.1",
        "  patched: no; can be patched",
        "  needed: libshared.so, libc.so",
        "  runpath: $ORIGIN/../lib",
    ]
    info = relinterp.inspect(app)
    assert (info.needed, info.runpath, info.rpath, info.patched) == (tuple(needed), runpath[0], None, False)


def test_patched_program_shows_candidates_stub_and_original_interpreter(programs, tmp_path):
    app = tmp_path / "app"
    shutil.copy2(programs["probe-nopie"], app)
    relinterp.patch(app, loader_rel=[LOADER_REL, "ld.so"])
    stub = load_stub("x86_64")
    info = relinterp.inspect(app)
    assert info.interpreter is None and info.libc == "musl" and not info.pie and info.elf_type == "ET_EXEC"
    assert [(c.path, c.provenance) for c in info.patch.candidates] == [(LOADER_REL, "option"), ("ld.so", "option")]
    assert info.patch.original_interpreter == "/lib/ld-musl-x86_64.so.1"
    assert info.patch.stub.sha256 == hashlib.sha256(stub.code).hexdigest() == stub.sha256
    assert info.patch.stub.relinterp == relinterp.__version__
    assert info.patch.exact_restore and info.patchable
    assert info.needed == ("libshared.so", "libc.so")  # PT_DYNAMIC is untouched by the patch
    lines = invoke("inspect", app).stdout.splitlines()
    assert lines[1:5] == [
        f"  patched: yes, loader candidates: $ORIGIN/{LOADER_REL}, $ORIGIN/ld.so",
        "  original interpreter: /lib/ld-musl-x86_64.so.1",
        f"  stub: relinterp {relinterp.__version__} (config schema 1), {len(stub.code)} bytes, sha256 {stub.sha256}",
        "  restore: byte-exact (SHA-256 verified)",
    ]


def test_inspect_shows_where_each_recorded_candidate_came_from(programs, tmp_path):
    app = tmp_path / "app"
    shutil.copy2(programs["probe"], app)  # DT_RUNPATH $ORIGIN/../lib
    assert invoke("patch", app, "--fallback-system").exit_code == EXIT_OK  # no candidate option: derived
    result = invoke("inspect", app, "-v")
    assert result.stdout.splitlines()[1:5] == [
        "  patched: yes, loader candidates: $ORIGIN/../lib/ld-musl-x86_64.so.1, $ORIGIN/../lib/libc.so, "
        "/lib/ld-musl-x86_64.so.1",
        "  candidate 1: $ORIGIN/../lib/ld-musl-x86_64.so.1 (derived from DT_RUNPATH entry $ORIGIN/../lib)",
        "  candidate 2: $ORIGIN/../lib/libc.so (derived from DT_RUNPATH entry $ORIGIN/../lib)",
        "  candidate 3: /lib/ld-musl-x86_64.so.1 (the original interpreter, --fallback-system)",
    ]
    document, _ = json_run("inspect", app)
    assert [(c["kind"], c["provenance"], c["derived_from"]) for c in document["files"][0]["patch"]["candidates"]] \
        == [("relative", "DT_RUNPATH", "$ORIGIN/../lib")] * 2 + [("absolute", "system", None)]


def test_patched_then_stripped_program_is_still_recognised_but_not_exactly_restorable(programs, tmp_path):
    app = tmp_path / "app"
    shutil.copy2(programs["probe"], app)
    relinterp.patch(app, loader_rel=LOADER_REL)
    assert run(["strip", "--strip-all", app]).returncode == 0
    info = relinterp.inspect(app)
    assert [c.path for c in info.patch.candidates] == [LOADER_REL]
    assert info.patch.original_interpreter == "/lib/ld-musl-x86_64.so.1"  # found by address after strip moved it
    assert not info.patch.exact_restore
    assert not info.patchable and "restore it before patching" in info.not_patchable_reason
    assert info.runpath == "$ORIGIN/../lib"


@pytest.mark.parametrize("name, reason", [
    ("static", "static executable, nothing to patch"),
    ("static-pie", "static-pie executable, nothing to patch"),
    ("libshared.so", "shared library (no PT_INTERP), not an executable"),
    ("object.o", "not an executable (ELF type ET_REL)"),
])
def test_unpatchable_elf_files_say_why(programs, name, reason):
    result = invoke("inspect", programs[name])
    assert result.exit_code == EXIT_OK
    assert f"  patched: no; cannot be patched: {reason}" in result.stdout.splitlines()
    info = relinterp.inspect(programs[name])
    assert (info.patchable, info.not_patchable_reason, info.libc) == (False, reason, None)


def test_inspect_reads_and_writes_nothing_else(programs, tmp_path):
    app = tmp_path / "app"
    shutil.copy2(programs["probe"], app)
    before = app.stat()
    invoke("inspect", app)
    after = app.stat()
    assert (after.st_mtime_ns, after.st_ino, after.st_size) == (before.st_mtime_ns, before.st_ino, before.st_size)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app"]


def test_non_elf_file_is_an_error_for_inspect_as_for_the_api(tmp_path):
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\n")
    result = invoke("inspect", script)
    assert result.exit_code == EXIT_FAILED
    assert result.stderr == f"{script}: not an ELF file\n"
    with pytest.raises(NotElfError):
        relinterp.inspect(script)


def test_inspect_json_describes_each_file_or_its_error(programs, tmp_path):
    app = tmp_path / "app"
    shutil.copy2(programs["probe"], app)
    relinterp.patch(app, loader_rel=LOADER_REL)
    document, result = json_run("inspect", app, programs["hello"], tmp_path / "missing")
    assert result.exit_code == EXIT_FAILED
    patched, plain, missing = document["files"]
    assert patched["patched"] and patched["patch"]["candidates"] == [
        {"path": LOADER_REL, "kind": "relative", "provenance": "option", "derived_from": None}]
    assert patched["elf"] == {"class": 64, "byte_order": "little", "machine": "EM_X86_64", "type": "ET_DYN",
                              "pie": True}
    assert patched["runpath"] == ["$ORIGIN/../lib"] and patched["rpath"] is None
    assert plain["interpreter"] == "/lib/ld-musl-x86_64.so.1" and plain["patch"] is None and plain["patchable"]
    assert missing["error"] == {"kind": "read", "exit_code": EXIT_FAILED,
                                "message": f"{tmp_path / 'missing'}: cannot read (No such file or directory)"}
    assert document["summary"] == {"files": 3, "inspected": 2, "error": 1}


def test_rpath_is_shown_apart_from_runpath(musl_gcc, tmp_path):
    app = tmp_path / "app"
    built = run([musl_gcc, "-o", app, PROGRAMS / "hello.c", "-Wl,--disable-new-dtags,-rpath,/opt/a:$ORIGIN/b"])
    assert built.returncode == 0, built.stderr
    info = relinterp.inspect(app)
    assert (info.rpath, info.runpath) == ("/opt/a:$ORIGIN/b", None)
    assert info.to_json()["rpath"] == ["/opt/a", "$ORIGIN/b"]
    assert "  rpath: /opt/a:$ORIGIN/b" in invoke("inspect", app).stdout.splitlines()


def test_programs_for_other_machines_and_classes_are_inspected_and_said_unpatchable(tmp_path):
    # Big-endian AArch64: a machine with a stub, but not in this byte order.
    arm = assemble(tmp_path, "arm64be", "aarch64-linux-gnu-", ["-EB"], ["-EB", "-pie", "--dynamic-linker",
                   "/lib/ld-musl-aarch64_be.so.1"], "_start:\n  mov x8, #93\n  svc #0\n")
    x32 = assemble(tmp_path, "x32", "", ["--x32"], ["-m", "elf32_x86_64", "-pie", "--dynamic-linker",
                   "/lib64/ld-linux-x32.so.2"], EXIT_START)
    first, second = relinterp.inspect(arm), relinterp.inspect(x32)
    assert (first.machine, first.elfclass, first.libc, first.interpreter) == \
           ("EM_AARCH64", 64, "musl", "/lib/ld-musl-aarch64_be.so.1")
    assert (second.machine, second.elfclass, second.libc) == ("EM_X86_64", 32, "glibc")
    for info in (first, second):
        assert not info.patchable and info.not_patchable_reason.startswith("unsupported machine")
