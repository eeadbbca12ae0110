"""Which emulator runs a tree's program on this machine: none for its own machine, a
statically linked qemu found on PATH, or a binfmt_misc entry with the F flag; without
one, exit status 4 names the package to install."""

from __future__ import annotations

import os

import pytest

from relinterp.elf.linked import read_linked_object
from relinterp.errors import EXIT_NO_SANDBOX, EmulatorUnavailableError
from relinterp.rewrite.stub import manifest
from relinterp.verify import emulator
from relinterp.verify.emulator import QEMU_ARCH, emulator_for

from synthetic import synthetic_executable

S390X = (64, False, "EM_S390")


@pytest.fixture
def s390x_program(tmp_path):
    synthetic_executable(tmp_path / "app", *S390X)
    return read_linked_object(str(tmp_path / "app"))


@pytest.fixture
def no_qemu(tmp_path, monkeypatch):
    """No qemu on PATH, no binfmt_misc entries."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(emulator, "BINFMT", str(empty))
    return empty


def test_every_shipped_stub_has_a_qemu_named_like_it():
    for arch, stub in manifest()["stubs"].items():
        assert QEMU_ARCH[(stub["machine"], stub["elfclass"], stub["byteorder"] == "little")] == arch


def test_a_program_for_this_machine_or_one_its_kernel_runs_needs_no_emulator(s390x_program, tmp_path, no_qemu):
    assert emulator_for(s390x_program, "s390x").how == "native"
    synthetic_executable(tmp_path / "i386", 32, True, "EM_386")
    assert emulator_for(read_linked_object(str(tmp_path / "i386")), "x86_64").file is None


def test_without_an_emulator_the_error_names_the_package_and_exit_status_4(s390x_program, no_qemu):
    with pytest.raises(EmulatorUnavailableError) as raised:
        emulator_for(s390x_program, "x86_64")
    assert raised.value.exit_code == EXIT_NO_SANDBOX
    assert str(raised.value) == (f"{s390x_program.path}: --run: no emulator for s390x programs that can run in "
                                 "the empty root: install qemu-user-static (apt-get install qemu-user-static)")


def test_a_statically_linked_qemu_on_path_is_chosen_a_dynamic_one_is_not(s390x_program, tmp_path, no_qemu):
    synthetic_executable(tmp_path / "dynamic", 64, True, "EM_X86_64")  # has PT_INTERP
    os.symlink(tmp_path / "dynamic", no_qemu / "qemu-s390x")
    (tmp_path / "dynamic").chmod(0o755)
    with pytest.raises(EmulatorUnavailableError, match="qemu-s390x on PATH is dynamically linked"):
        emulator_for(s390x_program, "x86_64")
    static = tmp_path / "static"
    synthetic_executable(static, 64, True, "EM_X86_64")
    data = bytearray(static.read_bytes())
    data[64 + 56 : 64 + 56 + 4] = bytes(4)  # its PT_INTERP (the second entry) becomes PT_NULL
    static.write_bytes(bytes(data))
    static.chmod(0o755)
    os.symlink(static, no_qemu / "qemu-s390x-static")
    chosen = emulator_for(s390x_program, "x86_64")
    assert (chosen.arch, chosen.file) == ("s390x", str(static))


ELF_S390X = "7f454c460202010000000000000000000002" + "0016"  # class 64, MSB, ET_EXEC, EM_S390
MASK = "ffffffffffffff00fffffffffffffffffffe" + "ffff"


@pytest.mark.parametrize("flags, state, used", [("F", "enabled", True), ("OC", "enabled", False),
                                                ("F", "disabled", False)])
def test_binfmt_misc_runs_the_program_only_from_an_enabled_entry_with_the_f_flag(s390x_program, no_qemu, flags,
                                                                                state, used):
    (no_qemu / "qemu-s390x").write_text(f"{state}\ninterpreter /usr/bin/qemu-s390x-static\nflags: {flags}\n"
                                        f"offset 0\nmagic {ELF_S390X}\nmask {MASK}\n")
    (no_qemu / "status").write_text("enabled\n")
    if used:
        assert emulator_for(s390x_program, "x86_64").how == "binfmt_misc qemu-s390x"
    else:
        with pytest.raises(EmulatorUnavailableError):
            emulator_for(s390x_program, "x86_64")
