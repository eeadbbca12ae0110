"""The stub loads a loader as the kernel does: what the kernel runs as PT_INTERP, the stub
runs; what the kernel refuses, the stub refuses, with the kernel's reason where it has
one; and where it knowingly differs, docs/robustness.md says so.  Each case runs one
loader file both ways — a hello world whose PT_INTERP names it, started by the kernel,
and the same program patched with `--loader` naming it — under bench/src/difftrace.c
(bench/kerneldiff/), as root or as an unprivileged user.  Both programs name the file
explicitly, so no system loader is involved: a mutation that breaks the file shows in
both outcomes.  x86_64 and i386 both run natively here."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from arch_support import TARGETS
from conftest import PROGRAMS, compile_program, unavailable
from discovery_support import setuid_workspace

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from kerneldiff.case import MEMBER, ROOT, USER, Case  # noqa: E402
from kerneldiff.elf import LoaderImage  # noqa: E402
from kerneldiff.gdb import run_case_under_gdb  # noqa: E402
from kerneldiff.judge import DOCS, DOCUMENTED, Outcome, classify, documented, verdict  # noqa: E402
from kerneldiff.run import Side, build, parse, run_case, tracer  # noqa: E402

ARCHES = ["x86_64", "i386"]
PF_X, PF_W, PF_R = 1, 2, 4
PT_NULL, PT_DYNAMIC = 0, 2
NOT_REGULAR = "Permission denied (not a regular file)"
USERS = {"root": ROOT, "user": USER}


@pytest.fixture(scope="module")
def parity():
    """run(case) -> (kernel, stub, stub with a debugger's breakpoint) outcomes."""
    for arch in ARCHES:
        if reason := TARGETS[arch].missing():
            unavailable(f"{arch}: {reason}")
    if os.geteuid() != 0:
        unavailable("loader owners and the users the cases run as need root")
    work = setuid_workspace()
    programs = {arch: build(arch, work / arch) for arch in ARCHES}
    difftrace = tracer(work)

    def run(case: Case, gdb: bool = False) -> tuple[Outcome, ...]:
        prog = programs[case.arch]
        sides = run_case_under_gdb(case, prog, work) if gdb else run_case(case, prog, difftrace, work)
        run.sides = sides  # the last case's reports, for what the outcomes do not say
        return tuple(classify(side, prog, name.startswith("stub")) for name, side in sides.items())

    yield run
    shutil.rmtree(work)


def loader(arch: str, mutate=None, **fields) -> Case:
    """A case of the architecture's real musl loader, changed by `mutate(image)`."""
    img = LoaderImage(TARGETS[arch].loader.read_bytes())
    if mutate:
        mutate(img)
    defaults = dict(index=0, arch=arch, identity=ROOT, kind="regular", mode=0o755, owner=0, group=0, writer=False,
                    mutations=(), data=bytes(img.data))
    return Case(**{**defaults, **fields})


RAN = Outcome("ran", "exit 0: 'hello, world\\n'")


def assert_both_run(outcomes) -> None:
    assert outcomes == (RAN,) * len(outcomes), outcomes


def assert_both_refuse(outcomes, kernel_errno: str | None, stub_reason: str) -> None:
    kernel, *stub = outcomes
    assert kernel.kind == "refused" and (kernel_errno is None or kernel.detail == kernel_errno), kernel
    assert stub == [Outcome("refused", stub_reason)] * len(stub), stub


def assert_documented(case: Case, kernel: Outcome, stub: Outcome, name: str) -> None:
    difference = documented(case, kernel, stub)
    assert verdict(kernel, stub) is not None and difference is not None and difference.name == name
    assert difference.doc in DOCS.read_text()


def text_segment(img: LoaderImage) -> int:
    return next(i for i in img.loads() if img.get("p_flags", i) & PF_X)


# ---------------------------------------------------------------- layout


@pytest.mark.parametrize("arch", ARCHES)
def test_text_segment_with_bss_past_its_file_bytes_runs_as_in_the_kernel(arch, parity):
    # Its last page keeps the file's bytes (the kernel's padzero fails on a page it cannot
    # write, and ignores that): nothing of the code is cleared.
    def grow(img):
        i = text_segment(img)
        img.set("p_memsz", img.get("p_filesz", i) + 1, i)
    assert_both_run(parity(loader(arch, grow)))


def test_read_only_bss_larger_than_memory_is_refused_as_by_the_kernel(parity):
    # The kernel maps bss read-write whatever p_flags say; a terabyte of it is more than
    # this machine commits.
    def huge_bss(img):
        last = img.loads()[-1]
        img.set("p_flags", PF_R, last)
        img.set("p_memsz", 1 << 40, last)
    kernel, stub, _ = parity(loader("x86_64", huge_bss))
    assert kernel.kind == "refused" and stub == Outcome("refused", "Out of memory"), (kernel, stub)


@pytest.mark.parametrize("arch", ARCHES)
def test_pt_loads_out_of_order_run_as_in_the_kernel(arch, parity):
    def swap(img):
        a, b = img.loads()[:2]
        first, second = img.entry_bytes(a), img.entry_bytes(b)
        img.put_entry(a, second)
        img.put_entry(b, first)
    assert_both_run(parity(loader(arch, swap)))


@pytest.mark.parametrize("arch", ARCHES)
def test_overlapping_pt_loads_run_as_in_the_kernel(arch, parity):
    # A second copy of the text segment, last in the table, mapped over the first.
    def duplicate(img):
        img.put_entry(img.phnum() - 1, img.entry_bytes(text_segment(img)))
    assert_both_run(parity(loader(arch, duplicate)))


@pytest.mark.parametrize("arch", ARCHES)
def test_last_segment_ending_past_the_end_of_the_file_within_its_last_page_runs(arch, parity):
    def past_eof(img):
        last = img.loads()[-1]
        end = img.get("p_offset", last) + img.get("p_filesz", last)
        del img.data[end:]
        grow = 0x1000 - end % 0x1000 - 1  # to the last byte of the file's last page
        img.set("p_filesz", img.get("p_filesz", last) + grow, last)
        img.set("p_memsz", max(img.get("p_memsz", last), img.get("p_filesz", last)), last)
    assert_both_run(parity(loader(arch, past_eof)))


@pytest.mark.parametrize("who", sorted(USERS))
@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("mutation", ["zero-size", "no-file-bytes"])
def test_first_pt_load_without_file_bytes_is_refused_where_the_kernel_maps_it_at_a_fixed_address(
        mutation, arch, who, parity):
    # The kernel then anchors the image at address 0: a user may not map there (it is
    # killed), root may (the loader crashes there).
    def first_empty(img):
        first = img.loads()[0]
        if mutation == "zero-size":
            img.set("p_memsz", 0, first)
        img.set("p_filesz", 0, first)
    kernel, stub, _ = parity(loader(arch, first_empty, identity=USERS[who]))
    assert kernel.kind in ("refused", "crashed"), kernel
    assert stub == Outcome("refused", "first PT_LOAD segment has no file bytes")


def test_et_exec_loader_is_mapped_where_it_was_linked_as_by_the_kernel(parity, tmp_path):
    # A static, non-PIE program as the interpreter: it runs, at its link-time address.
    static = compile_program(TARGETS["x86_64"].cc, tmp_path / "static", "-static", "-no-pie", "-fno-pie",
                             PROGRAMS / "hello.c")
    case = dataclasses.replace(loader("x86_64"), data=static.read_bytes())
    assert parity(case) == (Outcome("ran", "exit 0: 'hello\\n'"),) * 3


# ---------------------------------------------------------------- headers


def move_table(extra: int, unaligned: bool):
    """The program header table moved to the padding after the first segment's bytes (which
    that segment's last page maps, where the loader reads its own), `extra` PT_NULL entries
    more."""
    def move(img):
        first = img.loads()[0]
        at = (img.get("p_offset", first) + img.get("p_filesz", first) + 7) // 8 * 8 + unaligned
        table = b"".join(img.entry_bytes(i) for i in range(img.phnum())) + bytes(img.phentsize * extra)
        assert at + len(table) <= (at + 0xFFF) // 0x1000 * 0x1000, "no room in the padding"
        img.data[at:at + len(table)] = table
        img.set("e_phnum", img.phnum() + extra)
        img.set("e_phoff", at)
    return move


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("unaligned", [False, True], ids=["aligned", "unaligned"])
def test_program_headers_past_the_first_page_are_read_as_by_the_kernel(arch, unaligned, parity):
    assert_both_run(parity(loader(arch, move_table(0, unaligned))))


@pytest.mark.parametrize("arch", ARCHES)
def test_more_than_32_program_headers_run_as_in_the_kernel(arch, parity):
    assert_both_run(parity(loader(arch, move_table(31, False))))


def test_em_486_loader_runs_on_i386_as_in_the_kernel(parity):
    assert_both_run(parity(loader("i386", lambda img: img.set("e_machine", 6))))


# ---------------------------------------------------------------- the file


@pytest.mark.parametrize("who", sorted(USERS))
@pytest.mark.parametrize("mode", [0o644, 0o444, 0o400, 0o000])
def test_loader_without_an_execute_bit_is_refused_as_by_the_kernel(mode, who, parity):
    assert_both_refuse(parity(loader("x86_64", mode=mode, identity=USERS[who])), "EACCES", "Permission denied")


@pytest.mark.parametrize("arch", ARCHES)
def test_loader_executable_by_its_group_runs_for_members_only(arch, parity):
    # Mode 754, group 65531: a supplementary group of `member`, not of `user`, who may
    # read it (as others may) but not execute it.
    group_only = dict(mode=0o754, owner=4321, group=MEMBER.groups[0])
    assert_both_run(parity(loader(arch, identity=MEMBER, **group_only)))
    assert_both_refuse(parity(loader(arch, identity=USER, **group_only)), "EACCES", "Permission denied")


@pytest.mark.parametrize("mode", [0o711, 0o111])
def test_loader_its_user_may_execute_but_not_read_runs_only_in_the_kernel(mode, parity):
    # The kernel needs no read permission to map an interpreter; the stub maps it from
    # user space, which needs a descriptor open for reading.  Root may read anything.
    assert_both_run(parity(loader("x86_64", mode=mode)))
    case = loader("x86_64", mode=mode, identity=USER)
    kernel, stub, _ = parity(case)
    assert (kernel, stub) == (RAN, Outcome("refused", "Permission denied"))
    assert_documented(case, kernel, stub, "exec-only")


@pytest.mark.parametrize("arch", ARCHES)
def test_loader_held_open_for_writing_runs_where_the_kernel_says_text_file_busy(arch, parity):
    # The kernel's deny_write_access has no system call; MAP_DENYWRITE is ignored.
    case = loader(arch, writer=True)
    kernel, stub, _ = parity(case)
    assert (kernel, stub) == (Outcome("refused", "ETXTBSY"), RAN)
    assert_documented(case, kernel, stub, "write-busy")


@pytest.mark.parametrize("kind", ["block-device", "socket", "fifo", "directory", "char-device"])
def test_loader_that_is_not_a_regular_file_is_refused_as_by_the_kernel(kind, parity):
    # The block device is a loop device of the loader's own bytes: readable and mappable.
    if kind == "block-device" and not os.path.exists("/dev/loop-control"):
        unavailable("no loop devices (/dev/loop-control)")
    assert_both_refuse(parity(loader("x86_64", kind=kind)), "EACCES", NOT_REGULAR)


def test_loader_on_a_noexec_file_system_is_refused_as_by_the_kernel(parity, tmp_path):
    # The programs' loader path, in a private mount namespace, on a tmpfs mounted noexec.
    case = loader("x86_64")
    kernel, stub, _ = parity(case)  # the control: mounted as it is, both run
    assert (kernel, stub) == (RAN, RAN)
    programs = build("x86_64", tmp_path / "noexec")
    difftrace = tracer(tmp_path)
    lib = programs.loader.parent
    copy = tmp_path / "ld.so"
    shutil.copy2(programs.loader, copy)
    outcomes = []
    for program in (programs.kernel, programs.stub):
        script = (f'mount -t tmpfs -o noexec none "{lib}" && cp "{copy}" "{programs.loader}" && '
                  f'exec "{difftrace}" -o "{tmp_path}/report" -- "{program}"')
        done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60)
        side = Side(parse((tmp_path / "report").read_text()), done.stdout, done.stderr)
        outcomes.append(classify(side, programs, program == programs.stub))
    assert outcomes == [Outcome("refused", "EACCES"), Outcome("refused", "Permission denied")]


# ---------------------------------------------------------------- the debugger hook


DEBUGGER_CASES = {
    "first PT_LOAD's p_type": lambda img: img.set("p_type", PT_NULL, img.loads()[0]),
    "first PT_LOAD's p_flags": lambda img: img.set("p_flags", PF_W, img.loads()[0]),
    "e_phoff moved": lambda img: img.set("e_phoff", 0x4000),
    "PT_DYNAMIC outside the image": lambda img: img.set("p_vaddr", 1 << (img.bits - 2), img.index_of(PT_DYNAMIC)),
}


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("mutation", sorted(DEBUGGER_CASES))
def test_debugger_hook_touches_only_what_the_stub_mapped(mutation, arch, parity):
    # gdb with a breakpoint on _dl_debug_state: the stub's hook reads the loader's tables
    # only in pages it mapped readable; a broken loader crashes, or is refused, as when
    # the kernel maps it — never in the stub's own code.
    case = loader(arch, DEBUGGER_CASES[mutation])
    for kernel, stub in (parity(case, gdb=True), parity(case)[::2]):
        assert stub.kind != "fault-in-stub", stub
        assert verdict(kernel, stub) is None, (kernel, stub)


@pytest.mark.parametrize("arch", ARCHES)
def test_debugger_under_gdb_still_sees_the_loader_events(arch, parity):
    # The control for the cases above: with a sound loader, both runs stop at the
    # breakpoint (silently continued) and run to the end.
    assert parity(loader(arch), gdb=True) == (RAN, RAN)
    assert [side.report["bp"] for side in parity.sides.values()] == ["1", "1"]


def test_every_documented_difference_is_in_the_docs():
    text = DOCS.read_text()
    assert [d.doc for d in DOCUMENTED if d.doc not in text] == []
