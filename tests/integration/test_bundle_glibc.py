"""`relinterp bundle` and `verify` for glibc programs: a gcc and a g++ program shipped with
the machine's glibc in one tree that runs from anywhere, maps nothing of the host's, and
starts in an empty root; refused when its files would not link together."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import MUSL_LOADER, PROGRAMS, relinterp, run, sha256
from glibc_bundle_support import FOUND, gcc
from glibc_support import LOADER_NAME
from relinterp.elf.linked import read_linked_object
from relinterp.loaders.glibc import glibc_build

GLIBC = PROGRAMS / "glibc"
TREE_LIBS = ["ld-linux-x86-64.so.2", "libc.so.6", "libgcc_s.so.1", "libm.so.6", "libplugin.so", "libprobe.so",
             "libstdc++.so.6", "libthrower.so"]


def bundle(*args, **kwargs):
    return relinterp("bundle", *args, **kwargs)


def verify(*args):
    return relinterp("verify", *args)


@pytest.fixture(scope="module")
def build(glibc_programs, tmp_path_factory) -> Path:
    """The probes and their libraries as a build leaves them: both programs with DT_RUNPATH
    (what many toolchains write by default), which glibc does not pass on to libraries."""
    build = tmp_path_factory.mktemp("glibc-build") / "build"
    shutil.copytree(glibc_programs.dir, build)
    assert run(["patchelf", "--set-rpath", "$ORIGIN/../lib", build / "cxxprobe"]).returncode == 0
    assert read_linked_object(build / "cxxprobe").runpath == "$ORIGIN/../lib"
    return build


@pytest.fixture
def tree(build, tmp_path) -> Path:
    """Both probes in one tree, their own libraries from the build directory, libplugin.so
    (dlopen()ed by the C probe) included by name; then moved to another directory."""
    result = bundle(build / "probe", build / "cxxprobe", "-o", tmp_path / "dist", "--library-path", build,
                    "--include", "libplugin.so")
    assert result.returncode == 0, result.stderr
    moved = tmp_path / "moved" / "app"
    moved.parent.mkdir()
    os.rename(tmp_path / "dist", moved)
    return moved


def mapped_files(output: str) -> list[str]:
    return [line.split(" ", 1)[1] for line in output.splitlines() if line.startswith("mapped /")]


# ---------------------------------------------------------------- the tree runs, and only from itself

def test_the_moved_tree_passes_verify_and_runs_in_an_empty_root(tree):
    result = verify(tree, "--run", "hello")
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    for program in ("probe", "cxxprobe"):
        assert f"{tree}: bin/{program}: ran /bundle/bin/{program} hello in an empty root: exit status 0" in lines
    assert "  | hello" in lines and "  | hello from iostream, 42" in lines
    assert lines[-1] == f"{tree}: ok"


def test_the_dlopened_library_and_cxx_exceptions_work_in_the_empty_root(tree):
    plugin = verify(tree / "bin/probe", "--run", "plugin")
    assert plugin.returncode == 0, plugin.stdout
    assert "  | from /bundle/bin/../lib/libplugin.so" in plugin.stdout.splitlines()  # found by $ORIGIN/../lib
    thrown = verify(tree / "bin/cxxprobe", "--run", "throw")
    assert thrown.returncode == 0, thrown.stdout
    assert "  | caught thrower::Error: thrown in the library (code 7)" in thrown.stdout.splitlines()


def test_an_unpatched_glibc_program_fails_statically_and_in_the_empty_root(glibc_programs, system_glibc, tmp_path):
    tree, here = tmp_path / "tree", "bin/probe"  # the tree: up to $ORIGIN/../lib, which other users may enter
    (tree / "bin").mkdir(parents=True, mode=0o755)
    shutil.copy2(glibc_programs["probe"], tree / here)
    result = verify(tree / here, "--run", "hello", "--sandbox", "bwrap")
    assert result.returncode == 1
    assert (f"{tree}: FAIL {here}: loader: not patched: the kernel loads its loader from PT_INTERP "
            f"{system_glibc.interp}, outside the tree") in result.stdout.splitlines()
    assert f"{tree}: FAIL {here}: run: exited with status 1 in the empty root" in result.stdout
    assert "No such file or directory" in result.stdout  # the kernel found no PT_INTERP there


def test_the_empty_root_holds_no_library_but_the_trees(tree):
    result = verify(tree / "bin/probe", "--run", "maps")
    assert result.returncode == 0, result.stdout
    files = mapped_files(result.stdout.replace("  | ", ""))
    assert files and all(f.startswith("/bundle/") for f in files), files
    assert {os.path.basename(f) for f in files} >= {"probe", LOADER_NAME, "libc.so.6", "libprobe.so"}


def test_on_the_build_machine_the_bundled_program_maps_only_the_trees_files(tree, system_glibc):
    """The machine's glibc is right there, and in ld.so.cache: the tree's copies still win."""
    result = run([tree / "bin/probe", "maps"], text=True)
    assert result.returncode == 0, result.stderr
    files = mapped_files(result.stdout)
    assert files and all(f.startswith(f"{tree}/") for f in files), files


def test_without_the_machines_glibc_the_tree_runs_and_the_build_does_not(tree, build, without_glibc):
    assert without_glibc.hidden_run([tree / "bin/cxxprobe", "throw"]).stdout == \
        "caught thrower::Error: thrown in the library (code 7)\n"
    assert without_glibc.hidden_run([build / "cxxprobe", "throw"]).returncode == 127


def test_libraries_of_libraries_are_found_in_the_tree_through_the_programs_rpath(tree):
    """libstdc++.so.6 needs libm.so.6 and the program does not: only DT_RPATH, which glibc
    passes on to the libraries, finds it in the tree.  DT_RUNPATH would take the host's."""
    listing = run([tree / "bin/cxxprobe"], text=True, env={"LD_TRACE_LOADED_OBJECTS": "1"})
    found = {m.group(1): m.group(2) for m in FOUND.finditer(listing.stdout)}
    assert found["libm.so.6"] == f"{tree}/bin/../lib/libm.so.6"
    assert all(path.startswith(f"{tree}/") for path in found.values()), found
    runpath = tree / "bin/cxxprobe-runpath"  # control: the same program with DT_RUNPATH instead
    assert relinterp("restore", tree / "bin/cxxprobe", "-o", runpath).returncode == 0
    assert run(["patchelf", "--set-rpath", "$ORIGIN/../lib", runpath]).returncode == 0
    assert read_linked_object(runpath).runpath == "$ORIGIN/../lib"
    control = run([tree / "lib" / LOADER_NAME, runpath], text=True, env={"LD_TRACE_LOADED_OBJECTS": "1"})
    leaked = {m.group(1): m.group(2) for m in FOUND.finditer(control.stdout)}
    assert not leaked["libm.so.6"].startswith(f"{tree}/"), leaked


def test_relinterp_ldd_lists_what_the_bundled_loader_loads_where_the_hosts_ldd_cannot(tree):
    """The host's ldd asks the host's loader; `relinterp ldd` follows the program's own:
    the same libraries, at the same paths, as the bundled loader's own trace."""
    traced = run([tree / "bin/cxxprobe"], text=True, env={"LD_TRACE_LOADED_OBJECTS": "1"})
    expected = {m.group(1): os.path.realpath(m.group(2)) for m in FOUND.finditer(traced.stdout)}
    listed = relinterp("ldd", "--json", tree / "bin/cxxprobe")
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)["files"][0]
    assert document["loader"]["path"] == os.path.realpath(tree / "lib" / LOADER_NAME)
    found = {lib["name"]: os.path.realpath(lib["path"]) for lib in document["libraries"] if lib["path"]}
    assert found == expected and all(path.startswith(f"{os.path.realpath(tree)}/") for path in found.values())


# ---------------------------------------------------------------- what the tree holds

def test_the_tree_holds_glibc_and_the_programs_libraries_unchanged(tree, build, system_glibc):
    names = sorted(p.name for p in (tree / "lib").iterdir())
    by_name = set(names) - set(TREE_LIBS)  # what glibc loads by name: its own NSS modules and their needs
    assert set(TREE_LIBS) <= set(names)
    assert {"libnss_compat.so.2", "libnss_dns.so.2", "libnss_files.so.2"} <= by_name
    assert all(re.fullmatch(r"libnss_\w+\.so\.2|libresolv\.so\.2", name) for name in by_name), by_name
    assert "libnss_systemd.so.2" not in by_name  # beside libc.so.6 on Debian, but systemd's, not glibc's
    for name in by_name:
        assert sha256(tree / "lib" / name) == sha256(system_glibc.directory / name), name
    assert sorted(p.name for p in (tree / "bin").iterdir()) == ["cxxprobe", "probe"]
    for name, source in system_glibc.files.items():
        assert sha256(tree / "lib" / name) == sha256(source), name
    for name in ("libprobe.so", "libplugin.so", "libthrower.so"):
        assert sha256(tree / "lib" / name) == sha256(build / name), name


def test_the_programs_get_a_dt_rpath_not_a_dt_runpath(tree):
    for program in ("probe", "cxxprobe"):
        obj = read_linked_object(tree / "bin" / program)
        assert (obj.rpath, obj.runpath) == ("$ORIGIN/../lib", None), program


def test_a_program_whose_rpath_already_fits_is_only_patched(glibc_programs, tmp_path):
    assert read_linked_object(glibc_programs["cxxprobe"]).rpath == "$ORIGIN/../lib"  # built so
    out = tmp_path / "dist"
    assert bundle(glibc_programs["cxxprobe"], "-o", out, "--library-path", glibc_programs.dir).returncode == 0
    original = tmp_path / "cxxprobe"
    assert relinterp("restore", out / "bin/cxxprobe", "-o", original).returncode == 0
    assert sha256(original) == sha256(glibc_programs["cxxprobe"])


def test_a_library_with_its_own_runpath_gets_the_lib_dir(glibc_programs, tmp_path):
    """Its DT_RUNPATH stops glibc from passing the program's DT_RPATH on to it."""
    own = tmp_path / "build"
    shutil.copytree(glibc_programs.dir, own)
    assert run(["patchelf", "--set-rpath", "/opt/thrower/lib", own / "libthrower.so"]).returncode == 0
    out = tmp_path / "dist"
    result = bundle(own / "cxxprobe", "-o", out, "--library-path", own)
    assert result.returncode == 0, result.stderr
    lib = read_linked_object(out / "lib/libthrower.so")
    assert (lib.runpath, lib.rpath) == ("$ORIGIN", None)
    assert run([out / "bin/cxxprobe", "throw"]).returncode == 0


# ---------------------------------------------------------------- refusals: files that would not link

def other_build_of(libc: Path, out: Path) -> Path:
    """A copy of libc.so.6 whose banner names another build (same length, same code)."""
    data = libc.read_bytes()
    banner = re.search(rb"GNU C Library \(([^)]+)\)", data)
    package = banner.group(1)
    out.write_bytes(data.replace(package, b"X" * len(package), 1))
    return out


def test_a_libc_from_another_glibc_build_is_refused(glibc_programs, system_glibc, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    libc = other_build_of(system_glibc.files["libc.so.6"], other / "libc.so.6")
    out = tmp_path / "dist"
    result = bundle(glibc_programs["probe"], "-o", out, "--library-path", f"{other}:{glibc_programs.dir}")
    assert result.returncode == 1
    loader = os.path.realpath(system_glibc.interp)
    assert result.stderr.startswith(f"{libc}: libc.so.6 is from glibc build 'XXX")
    assert (f"the loader {loader} from {glibc_build(loader)!r}: both must come from one build (they share "
            "GLIBC_PRIVATE internals)") in result.stderr
    assert result.stderr.splitlines()[-1] == f"{out}: nothing written (1 problem)"
    assert not out.exists()


def test_a_glibc_library_that_is_not_the_one_beside_libc_is_refused(glibc_programs, system_glibc, tmp_path):
    copy, changed = tmp_path / "copy", tmp_path / "changed"
    for directory in (copy, changed):
        directory.mkdir()
        shutil.copy2(system_glibc.files["libm.so.6"], directory / "libm.so.6")
    with open(changed / "libm.so.6", "ab") as stream:
        stream.write(b"\0")  # another file now, though it still loads
    same = bundle(glibc_programs["cxxprobe"], "-o", tmp_path / "ok", "--library-path", f"{copy}:{glibc_programs.dir}")
    assert same.returncode == 0, same.stderr  # an identical copy is the same build
    result = bundle(glibc_programs["cxxprobe"], "-o", tmp_path / "dist",
                    "--library-path", f"{changed}:{glibc_programs.dir}")
    assert result.returncode == 1
    libc_dir = os.path.dirname(os.path.realpath(system_glibc.files["libc.so.6"]))
    assert result.stderr.startswith(f"{changed}/libm.so.6: uses glibc's private interfaces (GLIBC_PRIVATE), so it "
                                    f"belongs to the build of ")
    assert f"but is not the libm.so.6 of {libc_dir}: ship that one" in result.stderr


def test_a_symbol_version_the_library_found_lacks_is_refused(tmp_path):
    new, old = tmp_path / "new", tmp_path / "old"
    for directory, versions, flags in ((new, "VERS_1 { global: versioned_one; local: *; };\n"
                                             "VERS_2 { global: versioned_two; } VERS_1;\n", ["-DVERSIONED_2"]),
                                       (old, "VERS_1 { global: versioned_one; local: *; };\n", [])):
        directory.mkdir()
        (directory / "versions.map").write_text(versions)
        gcc(directory / "libversioned.so", "-shared", "-fPIC", *flags, GLIBC / "versioned.c",
            f"-Wl,--version-script,{directory}/versions.map")
    program = gcc(tmp_path / "newer", GLIBC / "newer.c", f"-L{new}", "-lversioned")
    assert run([program], env={"LD_LIBRARY_PATH": str(new)}).returncode == 0
    control = run([program], text=True, env={"LD_LIBRARY_PATH": str(old)})
    assert "version `VERS_2' not found" in control.stderr  # what the refusal spares
    result = bundle(program, "-o", tmp_path / "dist", "--library-path", old)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (f"{program}: needs version VERS_2 of libversioned.so, which "
                                             f"{old}/libversioned.so does not define")


def test_a_loader_that_is_not_glibcs_is_refused(glibc_programs, tmp_path):
    result = bundle(glibc_programs["probe"], "-o", tmp_path / "dist", "--library-path", glibc_programs.dir,
                    "--loader", MUSL_LOADER)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{MUSL_LOADER}: not a glibc loader for EM_X86_64 (64-bit)")


def test_musl_and_glibc_programs_are_not_mixed(glibc_programs, programs, tmp_path):
    result = bundle(glibc_programs["probe"], programs["hello"], "-o", tmp_path / "dist")
    assert result.returncode == 1
    assert result.stderr.startswith(f"{glibc_programs['probe']}: musl and glibc programs cannot share one loader")


# ---------------------------------------------------------------- verify's glibc checks

def test_verify_catches_a_libc_from_another_build(tree, system_glibc):
    os.unlink(tree / "lib/libc.so.6")
    other_build_of(system_glibc.files["libc.so.6"], tree / "lib/libc.so.6")
    result = verify(tree)
    assert result.returncode == 1
    assert any(line.startswith(f"{tree}: FAIL lib/libc.so.6: glibc: libc.so.6 is from glibc build 'XXX")
               for line in result.stdout.splitlines()), result.stdout


def test_verify_flags_an_entry_only_the_loader_can_expand(tree):
    assert run(["patchelf", "--set-rpath", "$ORIGIN/../$LIB", tree / "lib/libprobe.so"]).returncode == 0
    result = verify(tree)
    assert result.returncode == 1
    line = (f"{tree}: FAIL lib/libprobe.so: search-path: RPATH/RUNPATH entry $ORIGIN/../$LIB depends on the "
            "loader's $LIB or $PLATFORM (its build, the CPU): name the directory relative to $ORIGIN")
    assert result.stdout.splitlines().count(line) == 1, result.stdout  # once, though reached as bin/../lib too


def test_verify_notes_what_glibc_would_load_from_the_host(tree):
    result = verify(tree, "--json")
    assert result.returncode == 0, result.stdout  # notes are not failures
    notes = {(n["path"], n["message"].split(":")[0]) for n in json.loads(result.stdout)["trees"][0]["notes"]}
    assert notes == {("bin/probe", "calls getpwnam"), ("bin/probe", "calls iconv_open"),
                     ("lib/libstdc++.so.6", "calls iconv_open"), ("lib/libstdc++.so.6", "calls newlocale, setlocale")}
    lines = verify(tree).stdout.splitlines()
    shipped = sorted(p.name.split("_", 1)[1].split(".")[0] for p in (tree / "lib").glob("libnss_*.so.2"))
    assert "compat" in shipped
    assert (f"{tree}: NOTE bin/probe: host: calls getpwnam: glibc then loads NSS modules (libnss_*.so.2) for the "
            f"services the host's /etc/nsswitch.conf names (but those the tree holds: {', '.join(shipped)})") in lines


def test_without_proc_glibc_cannot_expand_the_programs_origin_and_verify_says_so(tree):
    result = verify(tree / "bin/probe", "--run", "hello", "--no-proc")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert f"{tree}: FAIL bin/probe: libraries: libprobe.so: not found inside the tree" in lines
    assert any("error while loading shared libraries: libprobe.so" in line for line in lines), lines


def glibc_tools() -> list[Path]:
    tools = [shutil.which(name) for name in ("getent", "iconv")]
    if None in tools:
        pytest.skip("glibc's getent and iconv are needed (libc-bin)")
    return [Path(tool) for tool in tools]


def test_glibcs_own_programs_are_bundled_from_wherever_they_live_and_run_in_an_empty_root(system_glibc, tmp_path):
    """getent and iconv use GLIBC_PRIVATE and live in /usr/bin, not beside libc.so.6: they
    are of its build all the same, which they name ("(PACKAGE) " for --version)."""
    tools = glibc_tools()
    out = tmp_path / "dist"
    result = bundle(*tools, "-o", out)
    assert result.returncode == 0, result.stderr
    checked = verify(out, "--run", "--version")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for tool in tools:
        host = run([tool, "--version"], text=True).stdout.splitlines()[0]
        assert f"  | {host}" in checked.stdout.splitlines()  # the same program, run in the empty root
    listed = verify(out, "--run", "-l")  # iconv's built-in character sets; getent has no -l and says so
    assert "  | UTF-8//" in listed.stdout.splitlines()


def test_a_glibc_program_naming_another_build_is_refused(system_glibc, tmp_path):
    getent = glibc_tools()[0]
    data = getent.read_bytes()
    package = re.search(rb"\(([^()\0]+)\) \0", data).group(1)
    other = tmp_path / "getent"
    other.write_bytes(data.replace(b"(" + package + b") \0", b"(" + b"X" * len(package) + b") \0"))
    other.chmod(0o755)
    result = bundle(other, "-o", tmp_path / "dist")
    assert result.returncode == 1
    assert result.stderr.startswith(f"{other}: uses glibc's private interfaces (GLIBC_PRIVATE)"), result.stderr
    assert not (tmp_path / "dist").exists()
