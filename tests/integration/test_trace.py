"""bundle --trace / --trace-cmd: real programs run under the real strace, bundled with
what they loaded, ran and read at run time, then run in an empty root (verify --run),
each with a control bundled without tracing that fails there."""

from __future__ import annotations

import os
import shutil

import pytest

from bundle_support import compile_c
from conftest import PROGRAMS, relinterp, run, sha256, unavailable
from report_support import valid_document
from sbom_support import SBOM, components, listed_sha256, prop, validate
from trace_support import PROBE, PYTHON, bundle, needs, refused_in_one_line, verify_run

GCC_AR = "/usr/bin/gcc-ar"
TRACE_PROGRAMS = PROGRAMS / "trace"

pytestmark = pytest.mark.usefixtures("strace", "namespace")


# ---------------------------------------------------------------- python

@pytest.fixture(scope="module")
def python_tree(tmp_path_factory):
    needs(PYTHON)
    tree = tmp_path_factory.mktemp("python") / "dist"
    result = bundle(PYTHON, "-o", tree, "--trace", PROBE)
    assert result.returncode == 0, result.stderr
    return tree, result.stdout


def test_python_traced_runs_its_probe_in_an_empty_root(python_tree):
    tree, _ = python_tree
    result = verify_run(tree, PROBE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{tree}: bin/python3.11: ran /bundle/bin/python3.11 -c import ssl, sqlite3, ctypes, lzma, bz2, decimal, " \
           "json in an empty root: exit status 0" in result.stdout.splitlines()


def test_python_traced_carries_its_standard_library_and_extension_modules(python_tree):
    tree, _ = python_tree
    for module in ("os.py", "ssl.py", "sqlite3/__init__.py", "json/decoder.py"):
        assert (tree / "lib/python3.11" / module).is_file(), module
    dynload = tree / "lib/python3.11/lib-dynload"
    for module in ("_ssl", "_sqlite3", "_ctypes", "_lzma", "_bz2", "_decimal"):
        assert (dynload / f"{module}.cpython-311-x86_64-linux-gnu.so").is_file(), module
    for library in ("libssl.so.3", "libcrypto.so.3", "libsqlite3.so.0", "libffi.so.8", "liblzma.so.5"):
        assert (tree / "lib" / library).is_file(), library
    source = os.stat("/usr/lib/python3.11/os.py")
    assert os.stat(tree / "lib/python3.11/os.py").st_mtime_ns == source.st_mtime_ns  # its .pyc stays valid


def test_python_traced_has_an_sbom_listing_what_the_run_brought_in(python_tree):
    """Strictly valid CycloneDX 1.6; the standard library as files, the extension modules
    and what they need as libraries, each come in by the trace and with its file's
    SHA-256; what glibc loads by name, and the start-up closure, as before."""
    tree, _ = python_tree
    validate((tree / SBOM).read_text())
    found = components(tree)
    dynload = "lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so"
    expected = {"lib/python3.11/os.py": ("file", "trace"), "lib/python3.11/json/decoder.py": ("file", "trace"),
                dynload: ("library", "trace"), "lib/libssl.so.3": ("library", "trace"),
                "lib/libgcc_s.so.1": ("library", "glibc-by-name"), "lib/libc.so.6": ("library", "needed"),
                "bin/python3.11": ("application", "argument")}
    for name, (kind, came_in) in expected.items():
        assert (found[name]["type"], prop(found[name], "came-in")) == (kind, came_in), name
        assert listed_sha256(found[name]) == sha256(tree / name), name
    assert prop(found["lib/python3.11/os.py"], "source") == "/usr/lib/python3.11/os.py"
    assert not [name for name in found if name.endswith("/") or name in (SBOM, ".relinterp-bundle.json")]
    files = {str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file() or p.is_symlink()}
    assert files - set(found) == {SBOM, ".relinterp-bundle.json"}  # every file of the tree, but those two


def test_verify_passes_a_traced_tree_and_names_a_traced_file_changed_after_bundling(python_tree, tmp_path):
    tree = tmp_path / "dist"
    shutil.copytree(python_tree[0], tree, symlinks=True)
    verified = relinterp("verify", tree)
    assert verified.returncode == 0, verified.stdout  # control: as bundled, it passes
    changed = tree / "lib/python3.11/json/decoder.py"
    listed = sha256(changed)
    changed.write_text(changed.read_text() + "# changed\n")
    result = relinterp("verify", tree)
    assert result.returncode == 1
    assert [line for line in result.stdout.splitlines() if ": FAIL " in line] == [
        f"{tree}: FAIL lib/python3.11/json/decoder.py: sbom: changed since bundling: sha256 {sha256(changed)}, "
        f"{SBOM} lists {listed}"]


def test_python_bundled_without_tracing_cannot_start_in_an_empty_root(tmp_path):
    needs(PYTHON)
    assert bundle(PYTHON, "-o", tmp_path / "dist").returncode == 0
    result = verify_run(tmp_path / "dist", PROBE)
    assert result.returncode == 1
    assert "ModuleNotFoundError" in result.stdout or "Could not find platform independent libraries" in result.stdout


# ---------------------------------------------------------------- gcc-ar

@pytest.fixture(scope="module")
def lto_object(tmp_path_factory):
    needs(GCC_AR, "/usr/bin/gcc")
    work = tmp_path_factory.mktemp("lto")
    (work / "f.c").write_text("int f(void) { return 42; }\n")
    compiled = run(["gcc", "-flto", "-c", work / "f.c", "-o", work / "f.o"], text=True)
    assert compiled.returncode == 0, compiled.stderr
    return work


def test_gcc_ar_traced_finds_its_plugin_and_runs_ar_in_an_empty_root(lto_object, tmp_path):
    tree = tmp_path / "dist"
    result = bundle(GCC_AR, "-o", tree, "--trace", "rcs traced.a f.o", cwd=lto_object)
    assert result.returncode == 0, result.stderr
    assert (tree / "lib/gcc/x86_64-linux-gnu/12/liblto_plugin.so").is_file()
    assert (tree / "bin/ar").is_file()
    checked = verify_run(tree, "--version")
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout.count("  | GNU ar") == 2  # gcc-ar ran ar; ar ran alone


def test_gcc_ar_traced_indexes_an_lto_object_in_an_empty_root(lto_object, tmp_path):
    """The plugin is loaded there, not only found: without it ar warns and the index
    lacks the object's symbol."""
    tree, work = tmp_path / "dist", tmp_path / "work"
    assert bundle(GCC_AR, "-o", tree, "--trace", "rcs traced.a f.o", cwd=lto_object).returncode == 0
    work.mkdir()
    shutil.copy(lto_object / "f.o", work)
    result = _empty_root_run(tree, work, "/bundle/bin/gcc-ar", "rcs", "/work/lib.a", "/work/f.o")
    assert (result.returncode, result.stderr) == (0, "")
    index = run(["nm", "--print-armap", work / "lib.a"], text=True).stdout
    assert "f in f.o" in index


def test_gcc_ar_bundled_without_tracing_misses_its_plugin(tmp_path):
    needs(GCC_AR)
    assert bundle(GCC_AR, "-o", tmp_path / "dist").returncode == 0
    result = verify_run(tmp_path / "dist", "--version")
    assert result.returncode == 1
    assert "liblto_plugin.so" in result.stdout


def _empty_root_run(tree, work, *argv):
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        unavailable("bubblewrap is needed (apt-get install bubblewrap)")
    return run([bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", tree, "/bundle", "--bind", work, "/work",
                "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--chdir", "/work", "--clearenv",
                "--setenv", "PATH", "/bundle/bin", *argv], text=True)


# ---------------------------------------------------------------- a program running a helper

@pytest.fixture(scope="module")
def stage(tmp_path_factory, musl_gcc):
    """An install prefix: bin/runner runs libexec/runner/helper and reads
    share/runner/message.txt, by paths relative to itself."""
    stage = tmp_path_factory.mktemp("runner") / "stage"
    for directory in ("bin", "lib", "libexec/runner", "share/runner"):
        (stage / directory).mkdir(parents=True)
    compile_c(stage / "lib/libshared.so", "-shared", "-fPIC", PROGRAMS / "shared.c")
    compile_c(stage / "libexec/runner/helper", TRACE_PROGRAMS / "helper.c", f"-L{stage / 'lib'}", "-lshared",
              "-Wl,-rpath,$ORIGIN/../../lib")
    compile_c(stage / "bin/runner", TRACE_PROGRAMS / "runner.c")
    (stage / "share/runner/message.txt").write_text("runner: hello from share\n")
    return stage


def test_a_program_running_a_helper_traced_runs_in_an_empty_root(stage, tmp_path):
    tree = tmp_path / "dist"
    result = bundle(stage / "bin/runner", "-o", tree, "--trace", "first")
    assert result.returncode == 0, result.stderr
    assert (tree / "share/runner/message.txt").read_text() == "runner: hello from share\n"
    checked = verify_run(tree, "second")
    assert checked.returncode == 0, checked.stdout
    lines = checked.stdout.splitlines()
    assert lines.count("  | helper second: 42") == 2  # run by runner, and run alone
    assert "  | runner: hello from share" in lines


def test_a_program_running_a_helper_bundled_without_tracing_fails_in_an_empty_root(stage, tmp_path):
    assert bundle(stage / "bin/runner", "-o", tmp_path / "dist").returncode == 0
    result = verify_run(tmp_path / "dist", "second")
    assert result.returncode == 1
    assert "../share/runner/message.txt" in result.stdout


def test_a_workload_follows_the_program_and_not_the_rest_of_the_command(stage, tmp_path):
    command = 'cat /etc/hostname >/dev/null; "$APP" from-a-workload | grep -q "helper from-a-workload: 42"'
    result = bundle(stage / "bin/runner", "-o", tmp_path / "dist", "--trace-cmd", command, "--json", "-n")
    assert result.returncode == 0, result.stderr
    document = valid_document(result.stdout, "bundle")
    placed = {f["path"]: f["role"] for f in document["files"]}
    assert (placed["libexec/runner/helper"], placed["share/runner/message.txt"]) == ("program", "data")
    taken = {t["path"]: t for t in document["from_target"]}
    assert taken["/proc/self/exe"]["by"] == str(stage / "bin/runner")
    assert "/etc/hostname" not in taken and "/bin/cat" not in taken
    assert not (tmp_path / "dist").exists()


def test_a_library_loaded_by_name_goes_where_the_search_finds_it(tmp_path, musl_gcc):
    """chain dlopen()s "libplugin.so", found through its absolute RUNPATH, which cannot
    move with the tree: the plugin goes to LIB_DIR, where the tree's search path leads,
    not to its place under the prefix."""
    stage = tmp_path / "stage"
    libs = stage / "lib/chain"
    libs.mkdir(parents=True)
    (stage / "bin").mkdir()
    compile_c(libs / "libbase.so", "-shared", "-fPIC", PROGRAMS / "base.c")
    compile_c(libs / "libmid.so", "-shared", "-fPIC", PROGRAMS / "mid.c", f"-L{libs}", "-lbase")
    compile_c(libs / "libplugin.so", "-shared", "-fPIC", PROGRAMS / "plugin.c")
    compile_c(stage / "bin/chain", PROGRAMS / "chain.c", f"-L{libs}", "-lmid", f"-Wl,-rpath,{libs}")
    tree = tmp_path / "dist"
    result = bundle(stage / "bin/chain", "-o", tree, "--trace", "plugin")
    assert result.returncode == 0, result.stderr
    assert (tree / "lib/libplugin.so").is_file() and not (tree / "lib/chain").exists()
    checked = verify_run(tree, "plugin")
    assert checked.returncode == 0, checked.stdout
    assert "  | plugin 84" in checked.stdout.splitlines()


def test_the_prefix_can_be_given(stage, tmp_path):
    """With the stage's parent as the prefix, its files keep their place under that."""
    result = bundle(stage / "bin/runner", "-o", tmp_path / "dist", "--trace", "x", "--trace-prefix", stage.parent,
                    "--json", "-n")
    assert result.returncode == 0, result.stderr
    placed = {f["path"] for f in valid_document(result.stdout, "bundle")["files"]}
    assert {"stage/share/runner/message.txt", "stage/libexec/runner/helper"} <= placed


def test_the_whole_system_cannot_be_the_prefix(stage, tmp_path):
    result = bundle(stage / "bin/runner", "-o", tmp_path / "dist", "--trace", "x", "--trace-prefix", "/")
    assert result.returncode == 2
    assert "cannot be the tree" in result.stderr


# ---------------------------------------------------------------- what comes from the target

def test_a_traced_date_lists_etc_localtime_as_taken_from_the_target(tmp_path):
    needs("/usr/bin/date")
    result = bundle("/usr/bin/date", "-o", tmp_path / "dist", "--trace", "+%Y", "--json")
    assert result.returncode == 0, result.stderr
    taken = {t["path"]: t for t in valid_document(result.stdout, "bundle")["from_target"]}
    assert taken["/etc/localtime"] == {"path": "/etc/localtime", "how": "opened", "writing": False,
                                       "found": os.path.exists("/etc/localtime"), "by": "/usr/bin/date"}
    text = bundle("/usr/bin/date", "-o", tmp_path / "again", "--trace", "+%Y", "-v")
    assert any(line.startswith(f"{tmp_path / 'again'}: from the target: /etc/localtime (opened by /usr/bin/date")
               for line in text.stdout.splitlines()), text.stdout


# ---------------------------------------------------------------- refusals

def test_a_trace_that_fails_is_refused_and_nothing_is_written(tmp_path):
    result = bundle("/usr/bin/date", "-o", tmp_path / "dist", "--trace", "--no-such-option")
    refused_in_one_line(result, "/usr/bin/date: --trace --no-such-option failed (exit status 1), nothing bundled: ",
                        "unrecognized option")
    assert not (tmp_path / "dist").exists()


def test_a_workload_that_never_runs_the_program_is_refused(tmp_path):
    result = bundle("/usr/bin/date", "-o", tmp_path / "dist", "--trace-cmd", "true")
    refused_in_one_line(result, "--trace-cmd true never ran /usr/bin/date")
    assert not (tmp_path / "dist").exists()


def test_a_workload_that_fails_before_running_the_program_is_refused_as_failed(tmp_path):
    result = bundle("/usr/bin/date", "-o", tmp_path / "dist", "--trace-cmd", "echo no input >&2; exit 3")
    refused_in_one_line(result, "/usr/bin/date: --trace-cmd 'echo no input >&2; exit 3' failed (exit status 3), "
                                "nothing bundled: no input")
    assert not (tmp_path / "dist").exists()


def test_without_strace_the_refusal_says_what_to_install(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    result = bundle("/usr/bin/date", "-o", tmp_path / "dist", "--trace", "", env={**os.environ, "PATH": str(empty)})
    refused_in_one_line(result, "strace is needed", "apt-get install strace")
    assert not (tmp_path / "dist").exists()


def test_a_program_that_cannot_be_traced_here_is_refused(strace, tmp_path):
    """Under a tracer already (a debugger, a container without ptrace), strace cannot
    trace: the kernel lets a process have one tracer only."""
    import sys

    argv = [strace, "-f", "-qq", "--seccomp-bpf", "-e", "trace=none", "-o", "/dev/null",
            sys.executable, "-m", "relinterp", "bundle", "/usr/bin/date", "-o", tmp_path / "dist", "--trace", ""]
    result = run(argv, text=True)
    refused_in_one_line(result, "/usr/bin/date: cannot be traced here (strace:", "Operation not permitted")
    assert not (tmp_path / "dist").exists()


def test_a_workload_that_does_not_end_is_stopped_with_everything_it_started(tmp_path):
    marker = "4242.25"  # a sleep no one else runs
    result = bundle("/usr/bin/date", "-o", tmp_path / "dist", "--trace-cmd", f'sleep {marker} & "$APP"; wait',
                    "--trace-timeout", "1")
    refused_in_one_line(result, "still running after 1 s: stopped")
    assert not (tmp_path / "dist").exists()
    assert not [pid for pid in os.listdir("/proc") if pid.isdigit() and _cmdline(pid).endswith(f"sleep\0{marker}\0")]


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline") as stream:
            return stream.read()
    except OSError:
        return ""


def test_trace_options_without_a_trace_are_a_usage_error(tmp_path):
    result = bundle("/usr/bin/date", "-o", tmp_path / "dist", "--trace-timeout", "5")
    assert result.returncode == 2
    assert "go with --trace or --trace-cmd" in result.stderr


def test_a_sysroots_programs_are_not_traced_here(tmp_path):
    result = bundle("/usr/bin/date", "-o", tmp_path / "dist", "--trace", "", "--sysroot", "/")
    assert result.returncode == 2
    assert "--trace runs the programs on this machine" in result.stderr
