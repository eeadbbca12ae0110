"""A malformed loader makes a patched program fail with the stub's one line and exit status
127, naming the loader and the reason: never a signal, never a hang.  The loaders are made
from each architecture's real musl loader by the mutations below; x86_64 and i386 programs
both run natively here, so these are the kernel's answers, not an emulator's.  Each of
these loaders the kernel, given it as PT_INTERP, refuses or maps only to see it crash
(test_stub_kernel_parity.py compares the two, and what the kernel runs, the stub runs)."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest

from arch_support import TARGETS
from conftest import LOADER_REL, PROGRAMS, compile_program, relinterp, run, unavailable

pytestmark = pytest.mark.usefixtures("namespace")

ARCHES = ["x86_64", "i386"]
PAGE = 0x1000
PT_LOAD = 1


class Image:
    """A loader's bytes, with the ELF header and program header fields by name."""

    # name: (offset in ELF64, offset in ELF32)
    HEADER = {"e_entry": (24, 24), "e_phoff": (32, 28), "e_phentsize": (54, 42), "e_phnum": (56, 44)}
    PHDR = {"p_type": (0, 0), "p_flags": (4, 24), "p_offset": (8, 4), "p_vaddr": (16, 8),
            "p_filesz": (32, 16), "p_memsz": (40, 20), "p_align": (48, 28)}

    def __init__(self, data: bytes):
        self.data = bytearray(data)
        self.wide = data[4] == 2
        self.bits = 64 if self.wide else 32

    def _where(self, name: str, index: int | None) -> tuple[str, int]:
        if index is None:
            fmt = "<H" if name in ("e_phentsize", "e_phnum") else "<Q" if self.wide else "<I"
            return fmt, self.HEADER[name][not self.wide]
        fmt = "<I" if name in ("p_type", "p_flags") else "<Q" if self.wide else "<I"
        entry = self.get("e_phoff") + index * self.get("e_phentsize")
        return fmt, entry + self.PHDR[name][not self.wide]

    def get(self, name: str, index: int | None = None) -> int:
        fmt, at = self._where(name, index)
        return struct.unpack_from(fmt, self.data, at)[0]

    def set(self, name: str, value: int, index: int | None = None) -> None:
        fmt, at = self._where(name, index)
        struct.pack_into(fmt, self.data, at, value)

    def loads(self) -> list[int]:
        return [i for i in range(self.get("e_phnum")) if self.get("p_type", i) == PT_LOAD]


def truncated(size):
    return lambda img: img.data[:size(len(img.data))]


def offset_past_eof(img):
    last = img.loads()[-1]  # moved by whole pages: still congruent with its address
    img.set("p_offset", img.get("p_offset", last) + (len(img.data) + PAGE) // PAGE * PAGE, last)


def filesz_over_memsz(img):
    last = img.loads()[-1]
    img.set("p_filesz", img.get("p_memsz", last) + 1, last)


def memsz_wraps(img):
    last = img.loads()[-1]
    img.set("p_memsz", 2**img.bits - 0x100, last)


def vaddr_wraps(img):
    last = img.loads()[-1]
    img.set("p_vaddr", 2**img.bits - PAGE + img.get("p_offset", last) % PAGE, last)


def overlapping(img):
    first, second = img.loads()[:2]
    img.set("p_vaddr", img.get("p_vaddr", first) + img.get("p_offset", second) % PAGE, second)


def incongruent(img):
    last = img.loads()[-1]
    img.set("p_offset", img.get("p_offset", last) + 1, last)


def set_header(name, value):
    return lambda img: img.set(name, value(img))


PAST_EOF = "segment past the end of the file (truncated?)"
NO_ENTRY = "entry point not in the loader's executable pages"
NOT_REGULAR = "Permission denied (not a regular file)"
WRAPS = "segment wraps around the address space"
# name: (mutation, the reason the stub gives)
MUTATIONS = {
    "truncated-to-1000-bytes": (truncated(lambda n: 1000), PAST_EOF),
    "truncated-to-half": (truncated(lambda n: n // 2), PAST_EOF),
    "segment-offset-past-eof": (offset_past_eof, PAST_EOF),
    "filesz-over-memsz": (filesz_over_memsz, "segment larger in the file than in memory"),
    "memsz-wraps": (memsz_wraps, WRAPS),
    "vaddr-plus-memsz-wraps": (vaddr_wraps, WRAPS),
    # The data segment laid over the text's last pages, where the entry point is.
    "loads-overlap-the-entry": (overlapping, NO_ENTRY),
    "offset-incongruent-with-address": (incongruent, "segment's file offset and address differ within a page"),
    "phdrs-where-there-are-none": (set_header("e_phoff", lambda img: 0x4000), "no PT_LOAD segment"),
    "phdrs-past-the-end": (set_header("e_phoff", lambda img: len(img.data) - 8),
                           "program headers past the end of the file"),
    "wrong-phentsize": (set_header("e_phentsize", lambda img: img.get("e_phentsize") - 8),
                        "bad program header size (e_phentsize)"),
    "no-phdrs": (set_header("e_phnum", lambda img: 0), "no program headers, or more than 64 KiB of them"),
    "entry-outside-code": (set_header("e_entry", lambda img: 0), NO_ENTRY),
}


def mutate(loader: Path, mutation) -> bytes:
    img = Image(loader.read_bytes())
    result = mutation(img)
    return bytes(img.data if result is None else result)


@pytest.fixture(scope="session")
def patched(tmp_path_factory):
    """patched(arch) -> a hello world for arch, patched to find ../lib/ld-musl.so."""
    cache: dict[str, Path] = {}

    def build(arch: str) -> Path:
        if arch not in cache:
            target = TARGETS[arch]
            reason = target.missing()
            if reason:
                unavailable(f"{arch}: {reason}")
            app = tmp_path_factory.mktemp(f"malformed-{arch}") / "hello"
            compile_program(target.cc, app, PROGRAMS / "hello.c")
            result = relinterp("patch", app, "--loader-rel", LOADER_REL)
            assert result.returncode == 0, result.stderr
            cache[arch] = app
        return cache[arch]

    return build


def tree(tmp_path: Path, app: Path) -> tuple[Path, Path]:
    (tmp_path / "bin").mkdir()
    (tmp_path / "lib").mkdir()
    shutil.copy2(app, tmp_path / "bin" / "app")
    return tmp_path / "bin" / "app", tmp_path / "lib" / "ld-musl.so"


def run_native(arch: str, argv, **kwargs):
    """Run argv where the architecture's musl loader directory is an empty tmpfs."""
    script = f'mount -t tmpfs none "{TARGETS[arch].musl_dir}" && exec "$@"'
    return run(["unshare", "-m", "sh", "-c", script, "sh", *argv], text=True, timeout=30, **kwargs)


def assert_refused(result, app: Path, named: str, reason: str) -> None:
    assert result.returncode == 127, (result.returncode, result.stderr)  # a signal would be negative
    assert result.stderr == f"{app}: relinterp: no usable loader: {named} ({reason})\n"
    assert result.stdout == ""


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_malformed_loader_is_refused_with_its_reason(arch, case, patched, tmp_path):
    app, loader = tree(tmp_path, patched(arch))
    mutation, reason = MUTATIONS[case]
    loader.write_bytes(mutate(TARGETS[arch].loader, mutation))
    loader.chmod(0o755)
    assert_refused(run_native(arch, [app]), app, str(loader), reason)


@pytest.mark.parametrize("arch", ARCHES)
def test_unmodified_loader_copy_runs(arch, patched, tmp_path):
    # The control: the same tree with the loader's bytes untouched starts.
    app, loader = tree(tmp_path, patched(arch))
    loader.write_bytes(mutate(TARGETS[arch].loader, lambda img: None))
    loader.chmod(0o755)
    result = run_native(arch, [app])
    assert (result.returncode, result.stdout) == (0, "hello\n"), result.stderr


@pytest.mark.parametrize("arch", ARCHES)
def test_fifo_as_loader_is_refused_without_blocking(arch, patched, tmp_path):
    app, loader = tree(tmp_path, patched(arch))
    os.mkfifo(loader)
    assert_refused(run_native(arch, [app]), app, str(loader), NOT_REGULAR)


@pytest.mark.parametrize("arch", ARCHES)
def test_directory_as_loader_is_refused(arch, patched, tmp_path):
    app, loader = tree(tmp_path, patched(arch))
    loader.mkdir()
    assert_refused(run_native(arch, [app]), app, str(loader), NOT_REGULAR)


def test_fifo_in_relinterp_loader_is_passed_over_without_blocking(patched, tmp_path):
    app, loader = tree(tmp_path, patched("x86_64"))
    shutil.copy2(TARGETS["x86_64"].loader, loader)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    env = {**os.environ, "RELINTERP_LOADER": str(fifo), "RELINTERP_DEBUG": "1"}
    result = run_native("x86_64", [app], env=env)
    assert (result.returncode, result.stdout) == (0, "hello\n"), result.stderr
    assert f"relinterp: RELINTERP_LOADER={fifo}: {NOT_REGULAR}\n" in result.stderr
