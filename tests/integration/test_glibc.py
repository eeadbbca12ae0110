"""Patched glibc programs (C and C++, PIE and not) run with their own glibc, shipped beside
them, where the machine's glibc is unreachable, exactly as if the kernel had loaded it."""

from __future__ import annotations

import os
import shutil
import struct

import pytest
from elftools.elf.elffile import ELFFile

from conftest import relinterp, run
from glibc_support import LIFECYCLE, LOADER_REL

PT_PHDR, PT_INTERP = 6, 3
PHDR_SIZE = 56  # sizeof(Elf64_Phdr)

C_PROGRAMS = pytest.mark.parametrize("program", ["probe", "probe-nopie"], ids=["pie", "nopie"])
CXX_PROGRAMS = pytest.mark.parametrize("program", ["cxxprobe", "cxxprobe-nopie"], ids=["pie", "nopie"])
# Started directly (the stub loads glibc's loader), or as `lib/ld-linux-x86-64.so.2 bin/app`
# (the loader maps the program and enters it at the stub, which goes straight on).
MODES = pytest.mark.parametrize("through_loader", [False, True], ids=["direct", "through-loader"])


def argv(bundle, *args, through_loader: bool = False) -> list:
    return [bundle.loader, bundle.app, *args] if through_loader else [bundle.app, *args]


def fields(output: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in output.splitlines())


# ---------------------------------------------------------------- isolation


def test_unpatched_program_cannot_start_where_the_system_glibc_is_hidden(ship_glibc_program, without_glibc):
    bundle = ship_glibc_program("probe", patch=False)
    assert run([bundle.app], text=True).stdout == "hello\n"  # fine where the system loader exists
    hidden = without_glibc.hidden_run([bundle.app])
    assert hidden.returncode == 127  # the kernel cannot find PT_INTERP: exec fails
    assert "not found" in hidden.stderr
    # Only the loader is missing: the bundle's own loader runs the same file there.
    assert without_glibc.hidden_run([bundle.loader, bundle.app]).stdout == "hello\n"


def test_system_libc_is_unreachable_there_too(ship_glibc_program, without_glibc):
    # A program without RPATH or RUNPATH gets its libc.so.6 from the machine's directories:
    # in the namespace there is none, which also shows why a glibc bundle needs one.
    bundle = ship_glibc_program("hello-norunpath", patch=False)
    result = without_glibc.hidden_run([bundle.loader, bundle.app])
    assert result.returncode == 127
    assert "libc.so.6: cannot open shared object file" in result.stderr


# ---------------------------------------------------------------- patching


@pytest.mark.parametrize("program, elf_type", [("probe", "ET_DYN"), ("probe-nopie", "ET_EXEC")])
def test_patch_accepts_glibc_programs_and_names_their_libc(glibc_programs, system_glibc, tmp_path,
                                                           program, elf_type):
    app = tmp_path / "app"
    shutil.copy2(glibc_programs[program], app)
    result = relinterp("patch", app, "--loader-rel", LOADER_REL, "-v")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == (
        f"  interpreter was {system_glibc.interp} (libc: glibc); machine EM_X86_64, {elf_type}")


@pytest.mark.parametrize("program", ["static", "static-pie"])
def test_static_glibc_programs_have_nothing_to_patch(glibc_programs, tmp_path, program):
    app = tmp_path / "app"
    shutil.copy2(glibc_programs[program], app)
    result = relinterp("patch", app, "--loader-rel", LOADER_REL)
    assert (result.returncode, result.stderr) == (3, f"{app}: {program} executable, nothing to patch\n")
    assert app.read_bytes() == glibc_programs[program].read_bytes()


def test_restore_gives_back_the_glibc_program(glibc_programs, tmp_path):
    app = tmp_path / "app"
    shutil.copy2(glibc_programs["cxxprobe"], app)
    assert relinterp("patch", app, "--loader-rel", LOADER_REL).returncode == 0
    assert app.read_bytes() != glibc_programs["cxxprobe"].read_bytes()
    assert relinterp("restore", app).returncode == 0
    assert app.read_bytes() == glibc_programs["cxxprobe"].read_bytes()


# ---------------------------------------------------------------- C programs


@C_PROGRAMS
def test_patched_program_runs_and_returns_its_exit_status(ship_glibc_program, without_glibc, program):
    bundle = ship_glibc_program(program)
    assert without_glibc.hidden_run([bundle.app]).stdout == "hello\n"
    assert without_glibc.hidden_run([bundle.app, "exit", "42"]).returncode == 42


@C_PROGRAMS
def test_every_mapped_file_comes_from_the_bundle(ship_glibc_program, without_glibc, program):
    bundle = ship_glibc_program(program)
    result = without_glibc.hidden_run([bundle.app, "maps"])
    mapped = {line.removeprefix("mapped ") for line in result.stdout.splitlines()}
    lib = bundle.lib
    assert mapped == {str(bundle.app), str(lib / "libc.so.6"), str(lib / "libprobe.so"), str(bundle.loader)}


@C_PROGRAMS
@MODES
def test_proc_self_exe_and_argv0(ship_glibc_program, without_glibc, program, through_loader):
    bundle = ship_glibc_program(program)
    result = without_glibc.hidden_run(argv(bundle, "exe", through_loader=through_loader))
    # Through the loader, the kernel ran the loader; glibc hands the program its own argv[0].
    exe = bundle.loader if through_loader else bundle.app
    assert result.stdout == f"exe {exe}\nargv0 {bundle.app}\n", result.stderr


@C_PROGRAMS
def test_threads_have_their_own_tls_in_the_program_and_in_a_library(ship_glibc_program, without_glibc, program):
    bundle = ship_glibc_program(program)
    result = without_glibc.hidden_run([bundle.app, "threads"])
    assert result.stdout == "threads main_tls 84 lib_tls 828; main thread keeps 7 100\n", result.stderr


@C_PROGRAMS
def test_dlopen_finds_a_library_beside_it_and_its_tls_is_per_thread(ship_glibc_program, without_glibc, program):
    bundle = ship_glibc_program(program)
    result = without_glibc.hidden_run([bundle.app, "plugin"])
    lines = result.stdout.splitlines()
    assert lines[0] == "plugin 42 tls 22 other thread 1", result.stderr
    assert os.path.realpath(lines[1].removeprefix("from ")) == str(bundle.lib / "libplugin.so")


@C_PROGRAMS
@MODES
def test_constructors_atexit_and_destructors_run_in_order(ship_glibc_program, without_glibc, program, through_loader):
    # The destructors are run by glibc's _dl_fini, which exit() reaches only through the
    # rtld_fini pointer the loader passes to the program's entry point (in rdx): the stub
    # must hand it on unchanged in both modes.
    bundle = ship_glibc_program(program)
    assert run([bundle.app, "lifecycle"], text=True).stdout == LIFECYCLE  # control: on the host
    result = without_glibc.hidden_run(argv(bundle, "lifecycle", through_loader=through_loader))
    assert (result.returncode, result.stdout) == (0, LIFECYCLE), result.stderr


@C_PROGRAMS
def test_auxv_names_the_bundled_loader_and_the_program(ship_glibc_program, without_glibc, program):
    # (Run as `ld.so bin/app`, the kernel's auxv describes the loader and glibc sets
    # AT_BASE 0 and AT_ENTRY e_entry, as for any program it is given.)
    bundle = ship_glibc_program(program)
    result = without_glibc.hidden_run([bundle.app, "auxv"])
    seen = fields(result.stdout)
    assert seen["AT_BASE"] == seen["loader_by_dladdr"] == seen["loader_by_iterate"], result.stdout
    assert int(seen["AT_BASE"], 16) != 0
    assert os.path.realpath(seen["loader_file"]) == str(bundle.loader)
    assert seen["AT_ENTRY"] == seen["_start"]  # the program's entry, not the stub's
    assert seen["AT_PHDR"] == seen["dlpi_phdr"]
    assert seen["AT_PHNUM"] == seen["dlpi_phnum"]


def program_headers(path) -> list[tuple[int, ...]]:
    """(type, flags, offset, vaddr, filesz, memsz, align) of each entry of an ELF64 file."""
    data = path.read_bytes()
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    entries = [struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize) for i in range(phnum)]
    return [(t, flags, offset, vaddr, filesz, memsz, align)
            for t, flags, offset, vaddr, _paddr, filesz, memsz, align in entries]


def symbol_value(path, name: str) -> int:
    with open(path, "rb") as stream:
        return ELFFile(stream).get_section_by_name(".symtab").get_symbol_by_name(name)[0]["st_value"]


@C_PROGRAMS
def test_loader_gets_phdr_first_interp_second_and_every_other_entry_unchanged(
        ship_glibc_program, glibc_programs, without_glibc, program):
    # PT_GNU_STACK, PT_GNU_RELRO, PT_TLS, PT_GNU_EH_FRAME, PT_DYNAMIC, PT_NOTE, ... are
    # copied as they are; the stub's own PT_LOAD comes last, as in the file.
    bundle = ship_glibc_program(program)
    result = without_glibc.hidden_run([bundle.app, "phdrs"])
    lines = result.stdout.splitlines()
    seen = fields("\n".join(line for line in lines if not line.startswith(("phdr ", "object "))))
    table = [tuple(int(v, 16) for v in line.split()[1:]) for line in lines if line.startswith("phdr ")]
    bias, address = int(seen["bias"], 16), int(seen["table"], 16)

    original = program_headers(glibc_programs[program])
    copied = [p for p in original if p[0] not in (PT_PHDR, PT_INTERP)]
    assert table[2:] == copied + program_headers(bundle.app)[-1:]
    phdr, interp = table[:2]
    assert phdr[0] == PT_PHDR and (phdr[3] + bias) % 2**64 == address
    assert phdr[4] == phdr[5] == len(table) * PHDR_SIZE
    assert interp[0] == PT_INTERP
    assert seen["interp"] == str(bundle.loader)  # the loader's resolved absolute path
    assert interp[4] == len(seen["interp"]) + 1

    # The load bias is right: main is where the symbol table says, moved by the bias.
    assert int(seen["main"], 16) - bias == symbol_value(glibc_programs[program], "main")
    assert bias == 0 if program.endswith("nopie") else bias != 0
    objects = [line.removeprefix("object ") for line in lines if line.startswith("object ")]
    assert objects[:2] == ["[]", "[linux-vdso.so.1]"]  # the program first
    assert [os.path.realpath(name.strip("[]")) for name in objects[2:]] == [
        str(bundle.lib / "libprobe.so"), str(bundle.lib / "libc.so.6"), str(bundle.loader)]


def test_without_proc_glibc_cannot_expand_origin_unless_told(ship_glibc_program, without_glibc):
    # The stub finds the loader from AT_EXECFN, but glibc expands $ORIGIN in RUNPATH from
    # /proc/self/exe only (or LD_ORIGIN_PATH); run through the loader, it uses the path.
    bundle = ship_glibc_program("probe")
    result = without_glibc.hidden_run([bundle.app], hide_proc=True)
    assert result.returncode == 127
    assert "libprobe.so: cannot open shared object file" in result.stderr
    told = without_glibc.hidden_run([bundle.app], hide_proc=True,
                                    env={**os.environ, "LD_ORIGIN_PATH": str(bundle.app.parent)})
    assert told.stdout == "hello\n", told.stderr
    assert without_glibc.hidden_run([bundle.loader, bundle.app], hide_proc=True).stdout == "hello\n"


# ---------------------------------------------------------------- modules loaded by name


def test_user_lookup_needs_no_nss_module(ship_glibc_program, without_glibc):
    # No libnss_*.so.2 is reachable in the namespace: the "files" service is in libc.so.6.
    bundle = ship_glibc_program("probe")
    result = without_glibc.hidden_run([bundle.app, "user", "root"])
    assert result.stdout == "user root home /root\n", result.stderr


def test_iconv_beyond_libc_needs_gconv_modules_named_by_gconv_path(ship_glibc_program, without_glibc):
    bundle = ship_glibc_program("probe")
    assert without_glibc.hidden_run([bundle.app, "iconv", "UCS-2"]).stdout == "iconv UCS-2 ok\n"  # built in
    # The bundled libc.so.6 looks for modules where its build put them: the machine's
    # directory, hidden here.  Shipped in the bundle, GCONV_PATH names them.
    missing = without_glibc.hidden_run([bundle.app, "iconv", "ISO-8859-1"])
    assert missing.stdout == "iconv ISO-8859-1 unavailable\n"
    machine_modules, gconv = without_glibc.directory / "gconv", bundle.lib / "gconv"
    shutil.copytree(machine_modules / "gconv-modules.d", gconv / "gconv-modules.d")
    for name in ("gconv-modules", "ISO8859-1.so"):
        shutil.copy2(machine_modules / name, gconv / name)
    env = {**os.environ, "GCONV_PATH": str(gconv)}
    shipped = without_glibc.hidden_run([bundle.app, "iconv", "ISO-8859-1"], env=env)
    assert shipped.stdout == "iconv ISO-8859-1 ok\n", shipped.stderr


# ---------------------------------------------------------------- C++ programs


@CXX_PROGRAMS
def test_iostream_output(ship_glibc_program, without_glibc, program):
    bundle = ship_glibc_program(program)
    result = without_glibc.hidden_run([bundle.app])
    assert (result.returncode, result.stdout) == (0, "hello from iostream, 42\n"), result.stderr


@CXX_PROGRAMS
def test_exception_thrown_in_a_library_is_caught_in_main(ship_glibc_program, without_glibc, program):
    bundle = ship_glibc_program(program)
    result = without_glibc.hidden_run([bundle.app, "throw"])
    assert result.stdout == "caught thrower::Error: thrown in the library (code 7)\n", result.stderr


@CXX_PROGRAMS
def test_exception_from_main_unwinds_through_library_frames(ship_glibc_program, without_glibc, program):
    bundle = ship_glibc_program(program)
    result = without_glibc.hidden_run([bundle.app, "callback"])
    assert result.stdout == "library frame unwound\ncaught std::out_of_range: thrown in the program\n", \
        result.stderr


CXX_LIFECYCLE = """\
library static constructed
program static constructed
function-local static constructed
library thread_local destroyed
main returns
atexit handler
function-local static destroyed
program static destroyed
library static destroyed
"""


@CXX_PROGRAMS
@MODES
def test_static_objects_thread_locals_and_atexit_in_order(ship_glibc_program, without_glibc, program, through_loader):
    bundle = ship_glibc_program(program)
    assert run([bundle.app, "lifecycle"], text=True).stdout == CXX_LIFECYCLE  # control: on the host
    result = without_glibc.hidden_run(argv(bundle, "lifecycle", through_loader=through_loader))
    assert (result.returncode, result.stdout) == (0, CXX_LIFECYCLE), result.stderr
