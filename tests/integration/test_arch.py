"""Patched musl programs for aarch64, i386, arm (armhf), riscv64, ppc64le and s390x (big-endian)
run under qemu-user with that architecture's musl loader made unreachable, as on x86_64
(test_run.py).

Each architecture's programs are built once per run with its own musl toolchain and
patched with the real command line; every run happens in a private mount namespace in
which the system's loader directory is an empty tmpfs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from arch_support import TARGETS, Target
from conftest import LOADER_REL, ShippedTree, relinterp, run, unavailable
from cross_support import MuslCrossPrograms
from relinterp.elf.executable import read_executable

pytestmark = pytest.mark.usefixtures("namespace")

EMULATED = ["aarch64", "i386", "arm", "riscv64", "ppc64le", "s390x"]
# For each, a loader of the same ELF class for another machine (s390x: the other byte order).
OTHER_MACHINE = {"aarch64": "riscv64", "riscv64": "aarch64", "i386": "arm", "arm": "i386", "ppc64le": "s390x",
                 "s390x": "ppc64le"}
BIG_ENDIAN = {"s390x"}


def run_on(target: Target, argv, *, hidden: bool = True, **kwargs):
    """Run argv for `target`; hidden: where its musl loader directory is an empty tmpfs."""
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 60)
    if not hidden:
        return run(target.command(argv), **kwargs)
    script = f'mount -t tmpfs none "{target.musl_dir}" && exec "$@"'
    return run(["unshare", "-m", "sh", "-c", script, "sh", *target.command(argv)], **kwargs)


@pytest.fixture(scope="session", params=EMULATED)
def cross_programs(request, musl_cross_build) -> MuslCrossPrograms:
    return musl_cross_build(request.param)


@dataclass(frozen=True)
class MuslCrossTree(ShippedTree):
    target: Target | None = None

    def run(self, *args, **kwargs):
        return run_on(self.target, [self.app, *args], **kwargs)


def ship(cross_programs: MuslCrossPrograms, root: Path, program: str = "probe", patch: bool = True) -> MuslCrossTree:
    dist = MuslCrossTree(root, target=cross_programs.target)
    (root / "bin").mkdir(parents=True)
    (root / "lib").mkdir()
    shutil.copy2(cross_programs[program], dist.app)
    shutil.copy2(cross_programs.target.loader, dist.loader)
    for lib in ("libshared.so", "libplugin.so"):
        shutil.copy2(cross_programs[lib], root / "lib" / lib)
    if patch:
        result = relinterp("patch", dist.app, "--loader-rel", LOADER_REL)
        assert result.returncode == 0, result.stderr
    return dist


@pytest.fixture(scope="session", params=["probe", "probe-nopie"], ids=["pie", "nopie"])
def dist(request, cross_programs, tmp_path_factory) -> MuslCrossTree:
    """A patched tree per architecture and link mode, shared by the tests that only run it."""
    root = tmp_path_factory.mktemp(f"dist-{cross_programs.target.arch}-{request.param}")
    return ship(cross_programs, root / "dist", request.param)


def test_unpatched_program_cannot_start_where_the_loader_is_hidden(cross_programs, tmp_path):
    dist = ship(cross_programs, tmp_path / "dist", patch=False)
    assert dist.run(hidden=False).stdout == "hello\n"  # fine where the loader is found
    hidden = dist.run()
    assert hidden.returncode != 0
    assert f"'{read_executable(dist.app).interp}'" in hidden.stderr  # qemu: Could not open '...'


def test_patched_program_runs_and_returns_its_exit_status(dist):
    assert dist.run().stdout == "hello\n"
    assert dist.run("exit", "42").returncode == 42


def test_argv_and_environment_are_passed_through(dist):
    long = "x" * 50_000
    result = dist.run("args", "", long, "a b")
    assert result.stdout.splitlines() == ["argc 5", f"[{dist.app}]", "[args]", "[]", f"[{long}]", "[a b]"]
    result = dist.run("env", "PROBE_VALUE", env={"PATH": os.environ["PATH"], "PROBE_VALUE": "a b=c",
                                                   "FILL": "y" * 10_000})
    assert result.stdout == "PROBE_VALUE=a b=c\n"


def test_proc_self_exe_and_argv0_are_the_program(dist):
    assert dist.run("exe").stdout == f"exe {dist.app}\nargv0 {dist.app}\n"


def test_threads_have_their_own_tls(dist):
    assert dist.run("threads").stdout == "threads 84 main 7\n"


def test_dlopen_finds_a_library_beside_it(dist):
    result = dist.run("plugin")
    assert result.stdout == "plugin 42 from libplugin.so\n", result.stderr


def test_copy_relocation_is_honoured(dist):
    assert dist.run("copyreloc").stdout == "counter 42 answer 42\n"


def test_loader_is_named_in_pt_interp_by_its_absolute_path(dist):
    result = dist.run("interp")
    assert result.stdout == f"first PT_PHDR\ninterp {dist.loader}\nlibc {dist.loader}\n", result.stderr


def test_running_through_the_loader_still_works(dist):
    # The loader enters the stub by a jump (ARM: bx, into ARM state; AArch64: br).
    result = run_on(dist.target, [dist.loader, dist.app, "args", "z"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"argc 3\n[{dist.app}]\n[args]\n[z]\n"


def test_loader_override_and_trace(dist, tmp_path):
    # The environment walk, and numbers in decimal and hexadecimal, on every architecture.
    other = tmp_path / "other.so"
    shutil.copy2(dist.target.loader, other)
    env = {"PATH": os.environ["PATH"], "RELINTERP_LOADER": str(other), "RELINTERP_DEBUG": "1"}
    result = dist.run("interp", env=env)
    assert result.stdout.splitlines()[1:] == [f"interp {other}", f"libc {other}"], result.stderr
    trace = [line.removeprefix("relinterp: ") for line in result.stderr.splitlines()]
    assert trace[0].startswith(f"RELINTERP_LOADER={other}: loader mapped at 0x")
    base = trace[0].split("loader mapped at ")[1].split(",")[0]
    phnum = len(read_executable(dist.app).segments)
    assert trace[1].startswith("auxv AT_PHDR 0x")
    assert trace[2:4] == [f"auxv AT_PHNUM {phnum} -> {phnum + 1}", f"auxv AT_BASE 0x0 -> {base}"]
    assert trace[5].startswith("entering the loader at 0x") and len(trace) == 6


def test_missing_loader_exits_127_naming_what_was_tried(cross_programs, tmp_path):
    dist = ship(cross_programs, tmp_path / "dist")
    dist.loader.unlink()
    result = dist.run()
    assert result.returncode == 127
    assert result.stderr == f"{dist.app}: relinterp: no usable loader: {dist.loader} (No such file or directory)\n"


def test_socket_as_loader_is_refused_with_the_kernels_reason(cross_programs, tmp_path):
    # Opening a socket says ENXIO; the kernel's open_exec refuses it with EACCES.
    dist = ship(cross_programs, tmp_path / "dist")
    dist.loader.unlink()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(dist.loader))
        result = dist.run()
    assert result.returncode == 127
    assert result.stderr.endswith(f": {dist.loader} (Permission denied (not a regular file))\n")


def test_loader_for_another_machine_is_refused_by_name(cross_programs, tmp_path):
    dist = ship(cross_programs, tmp_path / "dist")
    other = TARGETS[OTHER_MACHINE[cross_programs.target.arch]]
    if not other.loader.exists():
        unavailable(f"{other.loader} is missing ({other.install})")
    shutil.copy2(other.loader, dist.loader)
    result = dist.run()
    assert result.returncode == 127
    # As the kernel, the stub reads e_machine in its own byte order and not the byte order
    # byte: a loader of the other byte order is a wrong machine too.
    assert result.stderr.endswith(f": {dist.loader} (wrong machine, not {cross_programs.target.arch})\n")


@pytest.fixture
def aarch64(musl_cross_build) -> MuslCrossPrograms:
    return musl_cross_build("aarch64")


def test_64k_aligned_program_gets_a_congruent_segment_without_padding(aarch64, tmp_path):
    # Programs linked for 64 KiB pages must keep running on 64 KiB-page kernels: the new
    # segment's address is congruent with its offset modulo 64 KiB, and the file is not
    # padded to get there.
    original = aarch64["probe-64k"]
    dist = ship(aarch64, tmp_path / "dist", "probe-64k")
    with open(dist.app, "rb") as stream:
        stub = list(ELFFile(stream).iter_segments())[-1]
    assert stub["p_type"] == "PT_LOAD" and stub["p_align"] == 0x10000
    assert stub["p_vaddr"] % 0x10000 == stub["p_offset"] % 0x10000
    with open(original, "rb") as stream:  # right after the loaded part of the original
        loaded_end = max(s["p_offset"] + s["p_filesz"] for s in ELFFile(stream).iter_segments())
    assert 0 <= stub["p_offset"] - loaded_end < 16
    assert dist.run("threads").stdout == "threads 84 main 7\n"
    assert dist.run("plugin").stdout == "plugin 42 from libplugin.so\n"


BTI_PROGRAM = """\
	.text
	.globl _start
	.type _start, %function
_start:
	bti	c
	mov	x0, #1
	adr	x1, message
	mov	x2, #6
	mov	x8, #64         /* write */
	svc	#0
	mov	x0, #0
	mov	x8, #93         /* exit */
	svc	#0
message:
	.ascii "start\\n"
"""
GLIBC_AARCH64_LOADER = Path("/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1")


def test_bti_guarded_program_entered_by_a_branch_lands_on_the_stub(aarch64, tmp_path):
    # musl does not enforce BTI; glibc's loader does, when run as `ld.so app`: it maps a
    # BTI-marked program's code guarded and branches to its entry.  The program here has
    # no libc (a library dependency keeps glibc from handing it back to execve).
    if not GLIBC_AARCH64_LOADER.exists():
        unavailable(f"{GLIBC_AARCH64_LOADER} is missing (apt-get install libc6-arm64-cross)")
    cc = aarch64.target.cc[0]
    (tmp_path / "start.S").write_text(BTI_PROGRAM)
    (tmp_path / "empty.c").write_text("void empty(void) {}\n")
    lib = tmp_path / "libempty.so"
    assert run([cc, "-nostdlib", "-shared", "-fPIC", "-mbranch-protection=bti", "-o", lib,
                tmp_path / "empty.c"]).returncode == 0
    app = tmp_path / "app"
    linked = run([cc, "-nostdlib", "-pie", "-Wl,-z,force-bti", "-Wl,--no-as-needed",
                  "-Wl,--dynamic-linker=/lib/ld-linux-aarch64.so.1", "-o", app, tmp_path / "start.S",
                  f"-L{tmp_path}", "-lempty"])
    assert linked.returncode == 0, linked.stderr.decode()
    loader = tmp_path / "ld.so"
    shutil.copy2(GLIBC_AARCH64_LOADER, loader)
    assert relinterp("patch", app, "--loader-rel", "ld.so").returncode == 0

    def through_loader(program: Path):
        return run(["qemu-aarch64", "-cpu", "max", loader, "--library-path", tmp_path, program], text=True)

    result = through_loader(app)
    assert (result.returncode, result.stdout) == (0, "start\n"), result.stderr
    # Control: without the landing pad, the guarded jump to the stub traps.
    unguarded = tmp_path / "unguarded"
    data = bytearray(app.read_bytes())
    with open(app, "rb") as stream:
        elf = ELFFile(stream)
        stub = list(elf.iter_segments())[-1]
        entry = stub["p_offset"] + elf["e_entry"] - stub["p_vaddr"]
    assert struct.unpack_from("<I", data, entry)[0] == 0xD50324DF  # bti jc
    struct.pack_into("<I", data, entry, 0xD503201F)  # nop
    unguarded.write_bytes(bytes(data))
    unguarded.chmod(0o755)
    assert through_loader(unguarded).returncode == -4  # SIGILL


def test_inspect_and_restore_read_the_record_in_the_files_byte_order(cross_programs, tmp_path):
    dist = ship(cross_programs, tmp_path / "dist")
    shown = json.loads(relinterp("inspect", "--json", dist.app).stdout)["files"][0]
    arch = cross_programs.target.arch
    assert shown["elf"]["byte_order"] == ("big" if arch in BIG_ENDIAN else "little")
    assert [c["path"] for c in shown["patch"]["candidates"]] == [LOADER_REL]
    assert shown["patch"]["original_interpreter"] == read_executable(cross_programs["probe"]).interp
    assert shown["patch"]["exact_restore"] is True
    assert relinterp("restore", dist.app).returncode == 0
    assert dist.app.read_bytes() == cross_programs["probe"].read_bytes()
