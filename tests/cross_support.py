"""Programs for other machines, built once per run with each machine's musl toolchain
(tests/arch_support.py): the probe, PIE and not, with the libraries it loads.  Shared by
the tests that run them under qemu-user and those that read and rewrite their files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from arch_support import TARGETS, Target
from conftest import Programs, build_probes, compile_program, unavailable
from relinterp.elf.executable import read_executable


@dataclass(frozen=True)
class MuslCrossPrograms(Programs):
    target: Target | None = None


@pytest.fixture(scope="session")
def musl_cross_build(tmp_path_factory):
    """musl_cross_build(arch) -> MuslCrossPrograms: the test programs for one architecture."""
    cache: dict[str, MuslCrossPrograms] = {}

    def build_for(arch: str) -> MuslCrossPrograms:
        if arch not in cache:
            cache[arch] = _build_programs(TARGETS[arch], tmp_path_factory.mktemp(f"programs-{arch}"))
        return cache[arch]

    return build_for


def _build_programs(target: Target, d: Path) -> MuslCrossPrograms:
    reason = target.missing()
    if reason:
        unavailable(f"{target.arch}: {reason}")
    probe = build_probes(target.cc, d)
    assert (read_executable(d / "probe").elf_type, read_executable(d / "probe-nopie").elf_type) == (
        "ET_DYN", "ET_EXEC")
    if target.arch == "aarch64":
        compile_program(target.cc, d / "probe-64k", "-pie", "-fPIE", "-Wl,-z,max-page-size=65536", *probe)
    return MuslCrossPrograms(d, target)
