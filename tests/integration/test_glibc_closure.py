"""The closure of glibc programs, by relinterp's model of glibc's search rules, against the
machine's glibc loader listing what it loads (`ld.so --list PROGRAM`): the same files, in
the same order, and the same names not found."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import run, unavailable
from glibc_bundle_support import (ChainLibs, chain_program, closure_listing, glibc_listing, glibc_rules,
                                  private_cache, shared)
from relinterp.loaders.closure import resolve_closure
from relinterp.loaders.glibc import loader_facts

RPATH, RUNPATH = "-Wl,--disable-new-dtags,-rpath,", "-Wl,--enable-new-dtags,-rpath,"


def copies(directory: Path, libs: ChainLibs, *names: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy2(libs[name], directory / name)
    return directory


def _c_program(tmp_path, libs, programs, glibc):
    """gcc's probe: libprobe.so (through LD_LIBRARY_PATH), libc.so.6 from ld.so.cache."""
    return programs["probe"], {"library_path": [programs.dir]}, {"LD_LIBRARY_PATH": str(programs.dir)}


def _cxx_program(tmp_path, libs, programs, glibc):
    """g++'s probe: libstdc++.so.6 needs libm.so.6, which the program itself does not."""
    return programs["cxxprobe"], {"library_path": [programs.dir]}, {"LD_LIBRARY_PATH": str(programs.dir)}


def _rpath_is_passed_on(tmp_path, libs, programs, glibc):
    """libmid.so has no list: libbase.so is found through the program's DT_RPATH."""
    return chain_program(tmp_path / "chain", libs.build, RPATH + str(libs.build)), {}, {}


def _runpath_is_not_passed_on(tmp_path, libs, programs, glibc):
    """The same with DT_RUNPATH: it serves the program's own NEEDED only; libbase.so is not found."""
    return chain_program(tmp_path / "chain", libs.build, RUNPATH + str(libs.build)), {}, {}


def _a_runpath_stops_the_chain(tmp_path, libs, programs, glibc):
    """libmid.so with a DT_RUNPATH of its own: the program's DT_RPATH is not searched for it."""
    own = tmp_path / "own"
    own.mkdir()
    shared(own / "libmid.so", "mid.c", f"-L{libs.build}", "-lbase", RUNPATH + "/nonexistent")
    return chain_program(tmp_path / "chain", own, RPATH + f"{own}:{libs.build}"), {}, {}


def _rpath_before_library_path(tmp_path, libs, programs, glibc):
    first = copies(tmp_path / "first", libs, "libmid.so", "libbase.so")
    env = {"LD_LIBRARY_PATH": str(libs.build)}
    return chain_program(tmp_path / "chain", libs.build, RPATH + str(first)), {"library_path": [libs.build]}, env


def _library_path_before_runpath(tmp_path, libs, programs, glibc):
    first = copies(tmp_path / "first", libs, "libmid.so", "libbase.so")
    env = {"LD_LIBRARY_PATH": str(first)}
    return chain_program(tmp_path / "chain", libs.build, RUNPATH + str(libs.build)), {"library_path": [first]}, env


def _tokens(tmp_path, libs, programs, glibc):
    """$ORIGIN, $LIB and ${PLATFORM}, with the values the loader itself reports."""
    facts = loader_facts(os.path.realpath(glibc.interp))
    copies(tmp_path / "deps" / facts.lib, libs, "libmid.so")
    copies(tmp_path / "plat" / facts.platform, libs, "libbase.so")
    path = RPATH + "$ORIGIN/deps/$LIB:$ORIGIN/plat/${PLATFORM}"
    return chain_program(tmp_path / "chain", libs.build, path), {}, {}


def _cache(tmp_path, libs, programs, glibc):
    """libbase.so is only in a directory that ld.so.cache lists."""
    mid = copies(tmp_path / "mid", libs, "libmid.so")
    private_cache(tmp_path / "ld.so.cache", copies(tmp_path / "cached", libs, "libbase.so"))
    return chain_program(tmp_path / "chain", libs.build, RPATH + str(mid)), {"cache": tmp_path / "ld.so.cache"}, {}


def _nodeflib(tmp_path, libs, programs, glibc):
    """libmid.so linked with -z nodefaultlib: the libm.so.6 it needs is not found (its cache
    entry lies in a system directory, and those are skipped too); the program's libc.so.6 is."""
    own = tmp_path / "own"
    own.mkdir()
    shared(own / "libmid.so", "mid.c", f"-L{libs.build}", "-lbase", "-Wl,--no-as-needed", "-lm",
           "-Wl,-z,nodefaultlib")
    return chain_program(tmp_path / "chain", own, RPATH + f"{own}:{libs.build}"), {}, {}


def _soname(tmp_path, libs, programs, glibc):
    """libplugin.so needs libmid.so.1, which no directory holds: it is libmid.so, loaded
    first, by its SONAME."""
    own = copies(tmp_path / "own", libs, "libmid.so", "libbase.so", "libplugin.so")
    program = chain_program(tmp_path / "chain", own, RPATH + str(own), f"-L{own}", "-Wl,--no-as-needed", "-lplugin")
    for args in (["--set-soname", "libmid.so.1", own / "libmid.so"], ["--add-needed", "libmid.so.1", own / "libplugin.so"]):
        assert run(["patchelf", *args]).returncode == 0
    return program, {}, {}


def _another_machine(tmp_path, libs, programs, glibc):
    """A libbase.so for another machine comes first: glibc passes over it."""
    if shutil.which("aarch64-linux-gnu-as") is None:
        unavailable("aarch64-linux-gnu-as missing (apt-get install binutils-aarch64-linux-gnu)")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "arm.s").write_text(".text\n.globl base_value\nbase_value: ret\n")
    assert run(["aarch64-linux-gnu-as", "-o", tmp_path / "arm.o", tmp_path / "arm.s"]).returncode == 0
    assert run(["aarch64-linux-gnu-ld", "-shared", "-o", tmp_path / "foreign/libbase.so",
                tmp_path / "arm.o"]).returncode == 0
    return chain_program(tmp_path / "chain", libs.build, RPATH + f"{tmp_path}/foreign:{libs.build}"), {}, {}


SCENARIOS = [_c_program, _cxx_program, _rpath_is_passed_on, _runpath_is_not_passed_on, _a_runpath_stops_the_chain,
             _rpath_before_library_path, _library_path_before_runpath, _tokens, _cache, _nodeflib, _soname,
             _another_machine]
EXPECTED = {  # what each scenario must show, so that it proves what it says
    "_c_program": ({"libprobe.so", "libc.so.6"}, set()),
    "_cxx_program": ({"libthrower.so", "libstdc++.so.6", "libm.so.6", "libgcc_s.so.1", "libc.so.6"}, set()),
    "_rpath_is_passed_on": ({"libmid.so", "libbase.so"}, set()),
    "_runpath_is_not_passed_on": ({"libmid.so"}, {"libbase.so"}),
    "_a_runpath_stops_the_chain": ({"libmid.so"}, {"libbase.so"}),
    "_rpath_before_library_path": ({"libmid.so", "libbase.so"}, set()),
    "_library_path_before_runpath": ({"libmid.so", "libbase.so"}, set()),
    "_tokens": ({"libmid.so", "libbase.so"}, set()),
    "_cache": ({"libmid.so", "libbase.so"}, set()),
    "_nodeflib": ({"libmid.so", "libbase.so", "libc.so.6"}, {"libm.so.6"}),
    "_soname": ({"libmid.so", "libplugin.so", "libbase.so"}, set()),
    "_another_machine": ({"libmid.so", "libbase.so"}, set()),
}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__.lstrip("_"))
def test_closure_matches_the_glibc_loaders_own_listing(scenario, tmp_path, chain_libs, glibc_programs, system_glibc):
    program, options, env = scenario(tmp_path, chain_libs, glibc_programs, system_glibc)
    cache = options.get("cache")
    expected = glibc_listing(system_glibc.interp, program, env=env, cache=cache)
    names, missing = EXPECTED[scenario.__name__]
    assert {name for name, _ in expected.found} >= names and expected.missing == missing, expected
    if scenario is _rpath_before_library_path or scenario is _library_path_before_runpath:
        assert os.path.dirname(dict(expected.found)["libbase.so"]) == str(tmp_path / "first")
    closure = resolve_closure(str(program), glibc_rules(system_glibc, **options))
    assert closure_listing(closure) == expected


def test_a_name_not_found_lists_every_place_searched(tmp_path, chain_libs, system_glibc):
    program = chain_program(tmp_path / "chain", chain_libs.build, RUNPATH + str(chain_libs.build))
    closure = resolve_closure(str(program), glibc_rules(system_glibc))
    [missing] = closure.missing
    facts = loader_facts(os.path.realpath(system_glibc.interp))
    assert (missing.name, missing.needed_by) == ("libbase.so", str(chain_libs["libmid.so"]))
    assert missing.searched == (facts.cache, *facts.system_dirs)  # no RPATH to pass on, no RUNPATH of its own
