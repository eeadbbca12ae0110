"""The prebuilt stub is what its manifest says, is rebuilt identically from stub/, agrees
with Python on the config block, and the build refuses code that would need relocating."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

from arch_support import TARGETS
from conftest import run, unavailable
import re

from relinterp.elf.record import (CONFIG_FIELDS, CONFIG_FLAGS, CONFIG_SCHEMA, EMBEDDED_FIELDS, MAX_CANDIDATE_BYTES,
                                  MAX_CANDIDATES, config_struct, embedded_struct)
from relinterp.rewrite.stub import load_stub, manifest, stub_for

ROOT = Path(__file__).resolve().parents[2]
STUB_DIR = ROOT / "stub"
STUBS = ROOT / "relinterp" / "_stubs"


def load_blobtool():
    spec = importlib.util.spec_from_file_location("blobtool", STUB_DIR / "blobtool.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


blobtool = load_blobtool()
ARCHES = sorted(manifest()["stubs"])


@pytest.mark.parametrize("arch", ARCHES)
def test_committed_blob_matches_its_manifest(arch):
    entry = json.loads((STUBS / "manifest.json").read_text())["stubs"][arch]
    blob = (STUBS / entry["file"]).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == entry["sha256"]
    assert len(blob) == entry["size"] == entry["config_offset"]  # the config block follows the code
    assert entry["entry_offset"] == 0
    assert manifest()["config_schema"] == CONFIG_SCHEMA
    assert load_stub(arch).code == blob


@pytest.mark.parametrize("arch", ARCHES)
def test_committed_blob_was_built_from_the_current_sources(arch):
    recorded = manifest()["stubs"][arch]["source_sha256"]
    assert recorded == blobtool.source_sha256(arch), (
        "stub/ changed since the blob was built: cmake -S . -B build && cmake --build build --target install-stubs")


@pytest.mark.parametrize("arch", ARCHES)
def test_fresh_build_is_byte_identical(arch, tmp_path):
    entry = manifest()["stubs"][arch]
    target = TARGETS[arch]
    reason = target.missing()
    if reason:
        unavailable(f"{arch}: {reason}")
    local = blobtool.toolchain(target.cc[0])
    if (local["compiler"], local["linker"]) != (entry["compiler"], entry["linker"]):
        pytest.skip(f"local toolchain {local} differs from the manifest's; byte equality not expected")
    if shutil.which("cmake") is None:
        unavailable("cmake is needed to rebuild the stub")
    build = tmp_path / "build"
    # blobtool.py needs pyelftools: the interpreter running the tests has it.
    configured = run(["cmake", "-S", ROOT, "-B", build, f"-DRELINTERP_ARCHES={arch}",
                      f"-DPython3_EXECUTABLE={sys.executable}"])
    assert configured.returncode == 0, configured.stderr.decode()
    built = run(["cmake", "--build", build])
    assert built.returncode == 0, built.stdout.decode() + built.stderr.decode()
    assert (build / arch / "stub.bin").read_bytes() == (STUBS / entry["file"]).read_bytes()


# The first instruction of each entry that must be a landing pad for indirect branches.
LANDING_PADS = {
    "x86_64": bytes.fromhex("f30f1efa"),  # endbr64 (IBT)
    "aarch64": (0xD50324DF).to_bytes(4, "little"),  # bti jc (BTI: reached by br or blr)
}


@pytest.mark.parametrize("arch", sorted(LANDING_PADS))
def test_entry_starts_with_a_landing_pad(arch):
    stub = load_stub(arch)
    pad = LANDING_PADS[arch]
    assert stub.code[stub.entry_offset : stub.entry_offset + len(pad)] == pad


@pytest.mark.parametrize("machine,elfclass,little,arch", [
    ("EM_X86_64", 64, True, "x86_64"),
    ("EM_AARCH64", 64, True, "aarch64"),
    ("EM_386", 32, True, "i386"),
    ("EM_ARM", 32, True, "arm"),
    ("EM_RISCV", 64, True, "riscv64"),
    ("EM_PPC64", 64, True, "ppc64le"),
    ("EM_S390", 64, False, "s390x"),
    ("EM_X86_64", 32, True, None),  # x32
    ("EM_AARCH64", 64, False, None),  # aarch64_be
    ("EM_ARM", 32, False, None),  # armeb
    ("EM_RISCV", 32, True, None),  # riscv32
    ("EM_PPC64", 64, False, None),  # ppc64 (big-endian, ELFv1)
    ("EM_S390", 32, False, None),  # s390 (31-bit)
])
def test_stub_is_chosen_by_machine_class_and_byte_order(machine, elfclass, little, arch):
    stub = stub_for(machine, elfclass, little)
    assert (stub.arch if stub else None) == arch
    if stub:
        assert (stub.machine, stub.elfclass, stub.little_endian) == (machine, elfclass, little)


def print_from_c(tmp_path, statements: str) -> list[str]:
    """The lines a host C program prints that includes stub/config.h and runs `statements`."""
    (tmp_path / "probe.c").write_text(f'#include <stddef.h>\n#include <stdio.h>\n#include "config.h"\n'
                                      f"int main(void) {{ {statements} return 0; }}\n")
    built = run(["gcc", "-I", STUB_DIR, "-o", tmp_path / "probe", tmp_path / "probe.c"])
    assert built.returncode == 0, built.stderr.decode()
    return run([tmp_path / "probe"], text=True).stdout.splitlines()


@pytest.mark.parametrize("struct,fields,layout", [
    ("relinterp_config", CONFIG_FIELDS, config_struct),
    ("relinterp_embedded", EMBEDDED_FIELDS, embedded_struct),
])
def test_config_block_layout_agrees_between_python_and_c(tmp_path, struct, fields, layout):
    statements = "\n".join(
        f'printf("{name} %zu %zu\\n", offsetof(struct {struct}, {name}), '
        f"sizeof(((struct {struct} *)0)->{name}));" for name, _ in fields)
    expected, offset = [], 0
    for name, bits in fields:
        expected.append(f"{name} {offset} {bits // 8}")
        offset += bits // 8
    expected.append(f"size {layout(True).size}")
    assert print_from_c(tmp_path, statements + f'printf("size %zu\\n", sizeof(struct {struct}));') == expected


# Every constant stub/config.h defines, and its value in relinterp/elf/record.py.
CONSTANTS = {
    "RELINTERP_CONFIG_SCHEMA": CONFIG_SCHEMA,
    "RELINTERP_MAX_CANDIDATES": MAX_CANDIDATES,
    "RELINTERP_MAX_CANDIDATE_BYTES": MAX_CANDIDATE_BYTES,
    **{f"RELINTERP_{name}": value for name, value in CONFIG_FLAGS.items()},
}


def test_every_config_constant_agrees_between_python_and_c(tmp_path):
    header = (STUB_DIR / "config.h").read_text()
    defined = set(re.findall(r"^#define (RELINTERP_\w+) \S", header, re.MULTILINE))
    assert defined == set(CONSTANTS), "stub/config.h and this table must name the same constants"
    printed = print_from_c(tmp_path, "".join(f'printf("%llu\\n", (unsigned long long)({name}));'
                                             for name in sorted(CONSTANTS)))
    assert printed == [str(CONSTANTS[name]) for name in sorted(CONSTANTS)]


UNSAFE = {  # (architecture, source, code generation, what the build must complain about)
    "writable data": ("x86_64", "int counter = 1;\nint *entry(void) { return &counter; }\n", ["-fPIE"],
                      "section .data"),
    "absolute address": ("x86_64", 'const char text[] = "x";\nlong entry(void) { return (long)text; }\n',
                         ["-fno-pie"], "is not PC-relative"),
    # ADRP addresses 4 KiB pages: wrong once the blob sits at an offset that is not.
    "aarch64 page-relative": ("aarch64", 'const char text[] = "x";\nconst char *entry(void) { return text; }\n',
                              ["-fPIE"], "R_AARCH64_ADR_PREL_PG_HI21 at 0x"),
    "riscv64 relaxation": ("riscv64", 'const char text[] = "x";\nconst char *entry(void) { return text; }\n',
                           ["-fPIE"], "build with -mno-relax"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_build_refuses_a_stub_that_would_need_relocating(case, tmp_path):
    arch, source, model, complaint = UNSAFE[case]
    target = TARGETS[arch]
    reason = target.missing()
    if reason:
        unavailable(f"{arch}: {reason}")
    (tmp_path / "bad.c").write_text(f"{source}void _start(void) {{ entry(); }}\n")
    elf = tmp_path / "bad.elf"
    linked = run([*target.cc, "-Os", *model, "-ffreestanding", "-fno-asynchronous-unwind-tables", "-nostdlib",
                  "-static", "-Wl,-T," + str(STUB_DIR / "stub.ld"), "-Wl,--emit-relocs", "-o", elf, tmp_path / "bad.c"])
    assert linked.returncode == 0, linked.stderr.decode()
    result = run([sys.executable, STUB_DIR / "blobtool.py", "extract", elf, "--arch", arch,
                  "--cc", target.cc[0], "--out", tmp_path / "bad.bin", "--meta", tmp_path / "bad.json"], text=True)
    assert result.returncode == 1
    assert "unsafe stub" in result.stderr and complaint in result.stderr, result.stderr
    assert not (tmp_path / "bad.bin").exists()
