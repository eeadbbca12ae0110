"""Which loader candidates a program gets, in what order, from where, and the bounds the
stub relies on: unit tests of relinterp.rewrite.candidates over a real program's model, with
its DT_RUNPATH, DT_RPATH and PT_INTERP replaced, and the patch-time limits via the CLI."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from conftest import PROGRAMS, relinterp, run, sha256
from relinterp import api
from relinterp.rewrite.candidates import (
    OPTION, RPATH, RUNPATH, SYSTEM, LoaderCandidate, choose_candidates, config_flags, recorded_candidates,
    runpath_candidates,
)
from relinterp.elf.record import CONFIG_FLAGS, MAX_CANDIDATE_BYTES, MAX_CANDIDATES
from relinterp.elf.executable import read_executable
from relinterp.errors import CandidateError

MUSL = "/lib/ld-musl-x86_64.so.1"
GLIBC = "/lib64/ld-linux-x86-64.so.2"


@pytest.fixture(scope="module")
def hello(programs):
    return read_executable(programs["hello"])


def program(hello, runpath=None, rpath=None, interp=MUSL):
    return replace(hello, runpath=runpath, rpath=rpath, interp=interp)


def paths(candidates):
    return [c.path for c in candidates]


def test_runpath_origin_entries_give_the_loader_name_and_for_musl_libc_so(hello):
    exe = program(hello, runpath="$ORIGIN/../lib:/usr/lib:${ORIGIN}/lib64/:$ORIGIN")
    found = runpath_candidates(exe)
    assert paths(found) == ["../lib/ld-musl-x86_64.so.1", "../lib/libc.so", "lib64/ld-musl-x86_64.so.1",
                            "lib64/libc.so", "ld-musl-x86_64.so.1", "libc.so"]
    assert {c.provenance for c in found} == {RUNPATH}
    assert [c.derived_from for c in found[::2]] == ["$ORIGIN/../lib", "${ORIGIN}/lib64/", "$ORIGIN"]


def test_a_glibc_program_gets_only_its_loader_name(hello):
    assert paths(runpath_candidates(program(hello, runpath="$ORIGIN/../lib", interp=GLIBC))) == \
        ["../lib/ld-linux-x86-64.so.2"]


def test_rpath_counts_only_when_there_is_no_runpath(hello):
    both = program(hello, runpath="$ORIGIN/a", rpath="$ORIGIN/b")
    assert paths(runpath_candidates(both)) == ["a/ld-musl-x86_64.so.1", "a/libc.so"]
    only_rpath = runpath_candidates(program(hello, rpath="$ORIGIN/b"))
    assert paths(only_rpath) == ["b/ld-musl-x86_64.so.1", "b/libc.so"]
    assert only_rpath[0].provenance == RPATH


@pytest.mark.parametrize("entry", ["/usr/lib", "lib", "$ORIGINAL/lib", "/opt/$ORIGIN/lib", "$ORIGIN/$LIB",
                                   "${ORIGIN}/../${PLATFORM}", ""])
def test_entries_not_relative_to_origin_derive_nothing(hello, entry):
    assert runpath_candidates(program(hello, runpath=entry)) == ()


def test_options_come_in_order_and_replace_derivation(hello):
    exe = program(hello, runpath="$ORIGIN/../lib")
    chosen = choose_candidates(exe, loader_rel=["a/ld.so", "b/ld.so"], loader=["/x/ld.so"], fallback_system=True)
    assert chosen == (LoaderCandidate("a/ld.so", OPTION), LoaderCandidate("b/ld.so", OPTION),
                      LoaderCandidate("/x/ld.so", OPTION), LoaderCandidate(MUSL, SYSTEM))
    assert [c.kind for c in chosen] == ["relative", "relative", "absolute", "absolute"]
    assert choose_candidates(exe, loader="/x/ld.so") == (LoaderCandidate("/x/ld.so", OPTION),)


def test_fallback_system_alone_follows_the_derived_candidates(hello):
    chosen = choose_candidates(program(hello, runpath="$ORIGIN/../lib"), fallback_system=True)
    assert paths(chosen) == ["../lib/ld-musl-x86_64.so.1", "../lib/libc.so", MUSL]
    assert config_flags(chosen) == CONFIG_FLAGS["FLAG_DERIVED"] | CONFIG_FLAGS["FLAG_SYSTEM_FALLBACK"]
    assert choose_candidates(program(hello), fallback_system=True) == (LoaderCandidate(MUSL, SYSTEM),)


def test_a_path_given_twice_is_tried_once(hello):
    chosen = choose_candidates(program(hello), loader_rel=["a", "b", "a"], loader=[MUSL], fallback_system=True)
    assert paths(chosen) == ["a", "b", MUSL]


@pytest.mark.parametrize("options,reason", [
    ({"loader_rel": ["/abs/ld.so"]}, "--loader-rel '/abs/ld.so': must be relative"),
    ({"loader_rel": [""]}, "--loader-rel '': must be relative"),
    ({"loader": ["rel/ld.so"]}, "--loader 'rel/ld.so': must be an absolute path"),
])
def test_a_candidate_of_the_wrong_kind_is_refused(hello, options, reason):
    with pytest.raises(CandidateError, match=reason):
        choose_candidates(program(hello), **options)


@pytest.mark.parametrize("runpath,rpath,why", [
    (None, None, "the program has no DT_RUNPATH or DT_RPATH"),
    ("/usr/lib:lib", None, "its DT_RUNPATH '/usr/lib:lib' has no entry starting with $ORIGIN"),
    (None, "/opt/lib", "its DT_RPATH '/opt/lib' has no entry starting with $ORIGIN"),
])
def test_no_candidate_at_all_says_how_to_give_one_and_why_none_was_derived(hello, runpath, rpath, why):
    with pytest.raises(CandidateError) as error:
        choose_candidates(program(hello, runpath=runpath, rpath=rpath))
    assert error.value.reason == ("no loader candidate: give --loader-rel PATH (relative to the program's "
                                  f"directory), --loader /PATH or --fallback-system; none can be derived: {why}")


def test_patched_file_records_where_its_candidates_came_from(programs, tmp_path):
    app = tmp_path / "app"
    shutil.copy2(programs["probe"], app)  # RUNPATH $ORIGIN/../lib
    chosen = api.patch(app, fallback_system=True).candidates
    assert recorded_candidates(read_executable(app)) == chosen
    assert [c.describe() for c in chosen] == [
        "$ORIGIN/../lib/ld-musl-x86_64.so.1 (derived from DT_RUNPATH entry $ORIGIN/../lib)",
        "$ORIGIN/../lib/libc.so (derived from DT_RUNPATH entry $ORIGIN/../lib)",
        f"{MUSL} (the original interpreter, --fallback-system)",
    ]
    # The same options again change nothing; other ones re-patch from the original.
    assert api.patch(app, fallback_system=True).status == api.ALREADY_PATCHED
    api.patch(app, loader_rel="../lib/ld.so")
    assert recorded_candidates(read_executable(app)) == (LoaderCandidate("../lib/ld.so", OPTION),)
    assert api.restore(app).status == api.RESTORED
    assert sha256(app) == sha256(programs["probe"])


def test_limits_and_flags_agree_between_python_and_c(tmp_path):
    names = ["RELINTERP_MAX_CANDIDATES", "RELINTERP_MAX_CANDIDATE_BYTES",
             *(f"RELINTERP_{name}" for name in CONFIG_FLAGS)]
    body = " ".join(f'printf("%lu\\n", (unsigned long){name});' for name in names)
    (tmp_path / "limits.c").write_text(f'#include <stdio.h>\n#include "config.h"\nint main(void) {{ {body} }}\n')
    built = run(["gcc", "-I", PROGRAMS.parent.parent / "stub", "-o", tmp_path / "limits", tmp_path / "limits.c"])
    assert built.returncode == 0, built.stderr.decode()
    expected = [MAX_CANDIDATES, MAX_CANDIDATE_BYTES, *CONFIG_FLAGS.values()]
    assert run([tmp_path / "limits"], text=True).stdout.split() == [str(v) for v in expected]


def patch_refused(app, *options):
    before = sha256(app)
    result = relinterp("patch", app, *options)
    assert result.returncode == 1
    assert sha256(app) == before
    return result.stderr


def test_too_many_candidates_are_refused_at_patch_time(programs, tmp_path):
    app = tmp_path / "app"
    shutil.copy2(programs["hello"], app)
    options = [f"--loader-rel=../lib{i}/ld.so" for i in range(MAX_CANDIDATES)] + ["--loader=/lib/ld.so"]
    assert patch_refused(app, *options) == f"{app}: 17 loader candidates, at most {MAX_CANDIDATES}\n"


def test_too_many_derived_candidates_are_refused_at_patch_time(tmp_path, musl_gcc):
    app = tmp_path / "app"
    runpath = ":".join(f"$ORIGIN/../lib{i}" for i in range(9))  # 9 entries, 2 names each
    assert run([musl_gcc, "-o", app, PROGRAMS / "hello.c", f"-Wl,--enable-new-dtags,-rpath,{runpath}"]).returncode == 0
    assert patch_refused(app) == f"{app}: 18 loader candidates, at most {MAX_CANDIDATES}\n"


def test_too_long_candidate_is_refused_at_patch_time(programs, tmp_path):
    app = tmp_path / "app"
    shutil.copy2(programs["hello"], app)
    long = "../" + "x" * (MAX_CANDIDATE_BYTES - 2)
    assert patch_refused(app, "--loader-rel", "ld.so", "--loader-rel", long) == (
        f"{app}: loader candidate 2 is {MAX_CANDIDATE_BYTES + 1} bytes long, at most {MAX_CANDIDATE_BYTES}: "
        f"{long[:40]}...\n")
