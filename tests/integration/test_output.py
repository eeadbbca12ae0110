"""What relinterp prints, whatever the files hold and wherever its output goes: control
characters from a file shown escaped in text and exact in JSON, names that are not UTF-8
in valid JSON, a closed pipe that stops neither the work nor anything else, a usage
error that still gives --json its document, and -q."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from conftest import LOADER_REL, MUSL_LOADER, compile_program, relinterp
from report_support import report_schema

ESCAPE = "\x1b[31m"  # a terminal's "red"; \x1b]0;...\x07 sets its window title
RUNPATH = f"$ORIGIN/../lib:$ORIGIN/{ESCAPE}red:/opt/x\npatched: yes, forged"
SONAME = "libtitle\x1b]0;owned\x07.so"
RAW = ("\x1b", "\x07")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, musl_gcc) -> Path:
    """bin/app with a RUNPATH and a NEEDED name full of control characters, its library
    and the musl loader beside it in lib/, patched."""
    root = tmp_path_factory.mktemp("hostile")
    for d in ("bin", "lib"):
        (root / d).mkdir()
    source = root / "lib.c"
    source.write_text("int answer(void) { return 42; }\n")
    compile_program(musl_gcc, root / "lib" / SONAME, "-shared", "-fPIC", f"-Wl,-soname,{SONAME}", source)
    main = root / "main.c"
    main.write_text("int answer(void);\nint main(void) { return answer() - 42; }\n")
    compile_program(musl_gcc, root / "bin" / "app", main, root / "lib" / SONAME, "-Wl,--enable-new-dtags",
                    "-Xlinker", "-rpath", "-Xlinker", RUNPATH)
    shutil.copy2(MUSL_LOADER, root / "lib" / "ld-musl.so")
    return root


def one_line_each(text: str, lines: int) -> None:
    assert not any(c in text for c in RAW), repr(text)
    assert len(text.splitlines()) == lines, text


def test_inspect_escapes_what_the_file_holds_and_json_keeps_it_exact(hostile):
    app = hostile / "bin" / "app"
    shown = relinterp("inspect", app)
    assert shown.returncode == 0
    one_line_each(shown.stdout, 5)
    assert "  needed: libtitle\\x1b]0;owned\\x07.so, libc.so\n" in shown.stdout
    assert "  runpath: $ORIGIN/../lib:$ORIGIN/\\x1b[31mred:/opt/x\\npatched: yes, forged\n" in shown.stdout
    document = json.loads(relinterp("inspect", "--json", app).stdout)
    jsonschema.Draft202012Validator(report_schema()).validate(document)
    assert document["files"][0]["needed"] == [SONAME, "libc.so"]
    assert document["files"][0]["runpath"] == RUNPATH.split(":")


def test_patch_ldd_and_verify_escape_names_from_the_file(hostile, tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(hostile, tree)
    app = tree / "bin" / "app"
    patched = relinterp("patch", "-v", app)  # candidates derived from the RUNPATH's $ORIGIN entry
    assert patched.returncode == 0, patched.stderr
    assert "$ORIGIN/\\x1b[31mred/ld-musl-x86_64.so.1" in patched.stdout
    one_line_each(patched.stdout + patched.stderr, len(patched.stdout.splitlines()) + len(patched.stderr.splitlines()))
    assert relinterp("patch", app, "--loader-rel", LOADER_REL).returncode == 0
    listed = relinterp("ldd", app)
    one_line_each(listed.stdout, 3)
    assert f"\tlibtitle\\x1b]0;owned\\x07.so => {tree}/bin/../lib/libtitle\\x1b]0;owned\\x07.so\n" in listed.stdout
    (tree / "lib" / SONAME).unlink()
    verified = relinterp("verify", tree)
    assert verified.returncode == 1
    assert "bin/app: libraries: libtitle\\x1b]0;owned\\x07.so: not found inside the tree\n" in verified.stdout
    assert not any(c in verified.stdout for c in RAW)


def test_a_refusal_of_a_name_holding_a_newline_is_one_line(tmp_path):
    bad = tmp_path / "x\npatched (loader: forged)"
    bad.write_text("#!/bin/sh\n")
    result = relinterp("patch", bad, "--loader-rel", LOADER_REL)
    assert result.returncode == 1
    assert result.stderr == f"{tmp_path}/x\\npatched (loader: forged): not an ELF file\n"


def test_a_name_that_is_not_utf8_gives_valid_json_and_escaped_text(programs, tmp_path):
    app = Path(os.fsdecode(os.fsencode(tmp_path) + b"/app-\xff"))
    shutil.copy2(programs["hello"], app)
    text = relinterp("inspect", app)
    assert text.returncode == 0 and text.stdout.startswith(f"{tmp_path}/app-\\xff: ELF 64-bit"), text
    output = subprocess.run([sys.executable, "-m", "relinterp", "inspect", "--json", app], capture_output=True)
    raw = output.stdout.decode("ascii")  # ensure_ascii: any strict parser reads it
    document = json.loads(raw)
    for value in _strings(document):
        value.encode("utf-8")  # no lone surrogate: "\udcff" would fail here, as strict parsers fail on it
    assert document["files"][0]["path"] == f"{tmp_path}/app-\\xff"
    jsonschema.Draft202012Validator(report_schema()).validate(document)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def closed_pipe() -> int:
    """The write end of a pipe whose read end is already closed: the first write fails (EPIPE)."""
    read, write = os.pipe()
    os.close(read)
    return write


@pytest.mark.parametrize("closed", ["stdout", "stderr"])
def test_a_closed_pipe_stops_neither_the_work_nor_prints_a_traceback(programs, tmp_path, closed):
    tree = tmp_path / "dist"
    for d in ("bin", "lib"):
        (tree / d).mkdir(parents=True)
    for n in range(20):
        shutil.copy2(programs["hello"], tree / "bin" / f"app{n}")
    shutil.copy2(MUSL_LOADER, tree / "lib" / "ld-musl.so")
    bad = tmp_path / "notes.sh"
    bad.write_text("#!/bin/sh\n")
    pipe = closed_pipe()
    streams = {"stdout": pipe, "stderr": subprocess.PIPE} if closed == "stdout" else \
        {"stdout": subprocess.PIPE, "stderr": pipe}
    result = subprocess.run([sys.executable, "-m", "relinterp", "patch", "-r", "-j", "2", bad, tree / "bin",
                             "--loader-rel", LOADER_REL], text=True, **streams)
    os.close(pipe)
    assert result.returncode == 1  # notes.sh, named, is not an ELF file: the run's own status
    kept = result.stderr if closed == "stdout" else result.stdout
    assert "Traceback" not in kept and "Error" not in kept
    if closed == "stdout":
        assert result.stderr == f"{bad}: not an ELF file\n"  # the summary line was for stdout
    else:
        assert result.stdout.count(": patched (loader: ") == 20
    shown = relinterp("inspect", "-r", tree / "bin")
    assert shown.stdout.count("  patched: yes,") == 20


@pytest.mark.parametrize("args", [["inspect", "--json"], ["inspect"], ["ldd"], ["verify"]])
def test_a_reader_that_goes_away_ends_no_command_with_a_traceback(programs, tmp_path, args):
    app = tmp_path / "app"
    shutil.copy2(programs["hello"], app)
    pipe = closed_pipe()
    result = subprocess.run([sys.executable, "-m", "relinterp", *args, app], stdout=pipe, stderr=subprocess.PIPE,
                            text=True)
    os.close(pipe)
    assert result.stderr == "" or "Traceback" not in result.stderr and result.returncode in (0, 1)
    assert result.returncode == relinterp(*args, app).returncode


@pytest.mark.parametrize("command, schema", [("patch", "report"), ("restore", "report"), ("inspect", "report"),
                                             ("ldd", "ldd"), ("bundle", "bundle"), ("verify", "verify")])
def test_a_usage_error_with_json_prints_the_commands_document(command, schema):
    result = relinterp(command, "--json", "--no-such-option", "x")
    assert result.returncode == 2
    assert "No such option: --no-such-option" in result.stderr or "No such option '--no-such-option'" \
        in result.stderr
    document = json.loads(result.stdout)
    jsonschema.Draft202012Validator(report_schema(schema)).validate(document)
    assert (document["command"], document["exit_code"]) == (command, 2)
    assert "--no-such-option" in document["usage_error"]


def test_quiet_prints_nothing_but_refusals_and_warnings(programs, tmp_path):
    for d in ("bin", "lib"):
        (tmp_path / d).mkdir()
    app = tmp_path / "bin" / "app"
    shutil.copy2(programs["hello"], app)
    (tmp_path / "bin" / "notes.sh").write_text("#!/bin/sh\n")
    patched = relinterp("patch", "-q", "-r", tmp_path / "bin", "--loader-rel", LOADER_REL)
    assert (patched.returncode, patched.stdout) == (0, "")
    assert patched.stderr == f"{app}: warning: loader $ORIGIN/{LOADER_REL} ({tmp_path}/lib/ld-musl.so) does not " \
                             "exist yet: put the loader there before the program runs\n"
    shutil.copy2(MUSL_LOADER, tmp_path / "lib" / "ld-musl.so")
    assert relinterp("verify", "-q", tmp_path).stdout == ""
    (tmp_path / "lib" / "ld-musl.so").unlink()
    failed = relinterp("verify", "-q", tmp_path)
    assert failed.returncode == 1
    assert failed.stdout == f"{tmp_path}: FAIL bin/app: loader: loader candidate {LOADER_REL} does not exist\n" \
                            f"{tmp_path}: FAILED (1 problem)\n"
    restored = relinterp("restore", "-q", app)
    assert (restored.returncode, restored.stdout, restored.stderr) == (0, "", "")


def test_bundle_progress_on_a_closed_pipe_stops_showing_not_the_bundle(programs, tmp_path):
    pipe = closed_pipe()
    result = subprocess.run([sys.executable, "-m", "relinterp", "bundle", programs["hello"], "-o", tmp_path / "dist",
                             "--progress"], stdout=subprocess.PIPE, stderr=pipe, text=True)
    os.close(pipe)
    assert result.returncode == 0 and (tmp_path / "dist" / "bin" / "hello").is_file()
    assert relinterp("verify", tmp_path / "dist").returncode == 0
