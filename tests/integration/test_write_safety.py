"""Nothing lost: a patch that cannot be written completely leaves the path exactly as it
was (its bytes, its inode, its mode) and no file beside it, even when the process dies
in the middle of the write; owner, group and mode, setuid and setgid included, are kept
or the file is refused; a running program and hard links behave as docs/usage.md says."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import LOADER_REL, compile_program, relinterp, run, sha256
from discovery_support import NOBODY, as_nobody, setuid_workspace
from relinterp.errors import EXIT_FAILED, EXIT_OK

# The command line with SIGXFSZ at its default action (Python ignores it): writing past
# the file size limit then kills the process in the middle of the write, as `kill -9` would.
DIE_AT_FILE_SIZE_LIMIT = ("import signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_DFL); "
                          "from relinterp.cli import main; sys.exit(main())")


@dataclass(frozen=True)
class State:
    """What must survive a failed write: content, inode, owner, mode, and the directory."""

    sha256: str
    inode: int
    owner: tuple[int, int]
    mode: int
    directory: tuple[str, ...]

    @classmethod
    def of(cls, path: Path) -> State:
        info = path.stat()
        return cls(sha256(path), info.st_ino, (info.st_uid, info.st_gid), stat.S_IMODE(info.st_mode),
                   tuple(sorted(os.listdir(path.parent))))


@pytest.fixture
def app(programs, tmp_path) -> Path:
    (tmp_path / "bin").mkdir()
    path = tmp_path / "bin" / "app"
    shutil.copy2(programs["hello"], path)
    return path


def patched_size(app: Path, tmp_path: Path) -> int:
    out = tmp_path / "patched"
    assert relinterp("patch", app, "--loader-rel", LOADER_REL, "-o", out).returncode == EXIT_OK
    size = out.stat().st_size
    out.unlink()
    return size


def test_a_write_past_the_file_size_limit_is_refused_and_leaves_the_original(app, tmp_path):
    before = State.of(app)
    limit = patched_size(app, tmp_path) - 1
    result = run(["prlimit", f"--fsize={limit}", sys.executable, "-m", "relinterp", "patch", app,
                  "--loader-rel", LOADER_REL], text=True)
    assert (result.returncode, result.stderr) == (EXIT_FAILED, f"{app}: cannot write (File too large)\n")
    assert State.of(app) == before


def test_a_process_killed_in_the_middle_of_the_write_leaves_the_original_and_no_file(app, tmp_path):
    before = State.of(app)
    limit = patched_size(app, tmp_path) - 1
    result = run(["prlimit", f"--fsize={limit}", sys.executable, "-c", DIE_AT_FILE_SIZE_LIMIT, "patch", app,
                  "--loader-rel", LOADER_REL])
    assert result.returncode == -25  # SIGXFSZ, in the middle of writing the new file
    assert State.of(app) == before


def test_a_full_file_system_is_refused_and_leaves_the_original(app, namespace):
    """A tmpfs with room for the program but not for its patched copy beside it."""
    size = app.stat().st_size
    pages = -(-size // 4096) + 1
    script = f"""set -e
mount -t tmpfs -o size={pages * 4096} none "$1"
cp -p "$2" "$1/app"
before=$(stat -c '%i %a %s' "$1/app"; sha256sum < "$1/app")
status=0; "$3" -m relinterp patch "$1/app" --loader-rel {LOADER_REL} 2>&1 || status=$?
echo "status $status"
[ "$before" = "$(stat -c '%i %a %s' "$1/app"; sha256sum < "$1/app")" ] && echo unchanged
ls -A "$1"
"""
    mountpoint = app.parent.parent / "full"
    mountpoint.mkdir()
    result = run(["unshare", "-m", "sh", "-c", script, "sh", mountpoint, app, sys.executable], text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{mountpoint}/app: cannot write (No space left on device)",
                                          f"status {EXIT_FAILED}", "unchanged", "app"]


@pytest.mark.parametrize("owner, mode", [((NOBODY, NOBODY), 0o4755), ((0, NOBODY), 0o2755),
                                         ((NOBODY, NOBODY), 0o6750)], ids=["setuid", "setgid", "both"])
def test_setuid_and_setgid_bits_of_another_owner_are_kept(app, owner, mode):
    os.chown(app, *owner)
    app.chmod(mode)
    assert relinterp("patch", app, "--loader-rel", LOADER_REL).returncode == EXIT_OK
    info = app.stat()
    assert ((info.st_uid, info.st_gid), stat.S_IMODE(info.st_mode)) == (owner, mode)


@pytest.fixture
def nobodys_directory(programs):
    """A directory the unprivileged user owns, reachable by that user."""
    workspace = setuid_workspace()
    directory = workspace / "home"
    directory.mkdir()
    os.chown(directory, NOBODY, NOBODY)
    yield directory
    shutil.rmtree(workspace)


def patch_as_nobody(app: Path) -> subprocess.CompletedProcess:
    return run(as_nobody([sys.executable, "-m", "relinterp", "patch", app, "--loader-rel", LOADER_REL]), text=True)


def test_a_user_who_cannot_keep_the_group_is_refused(programs, nobodys_directory):
    app = nobodys_directory / "app"
    shutil.copy2(programs["hello"], app)
    os.chown(app, NOBODY, 0)  # a group the user is not in
    before = State.of(app)
    result = patch_as_nobody(app)
    assert result.returncode == EXIT_FAILED
    assert result.stderr.startswith(f"{app}: cannot keep its owner and group ({NOBODY}:0) as user {NOBODY}")
    assert State.of(app) == before


def test_a_user_patches_their_own_file_keeping_its_mode(programs, nobodys_directory):
    app = nobodys_directory / "app"
    shutil.copy2(programs["hello"], app)
    os.chown(app, NOBODY, NOBODY)
    app.chmod(0o4750)
    result = patch_as_nobody(app)
    assert result.returncode == EXIT_OK, result.stderr
    info = app.stat()
    assert ((info.st_uid, info.st_gid), stat.S_IMODE(info.st_mode)) == ((NOBODY, NOBODY), 0o4750)


def test_a_temporary_file_left_by_a_killed_run_does_not_break_the_next(app):
    """What an older relinterp left when killed while writing: a partial copy."""
    leftover = app.parent / ".app.k3x9q2ab.relinterp"
    leftover.write_bytes(app.read_bytes()[:1000])
    result = relinterp("patch", "-r", app.parent, "--loader-rel", LOADER_REL, "-v")
    assert result.returncode == EXIT_OK, result.stderr
    assert f"{leftover}: skipped, temporary file left by an interrupted relinterp run" in result.stdout
    assert relinterp("inspect", app).stdout.count("patched: yes") == 1


def test_a_running_program_is_patched_and_runs_on_from_its_old_file(tmp_path, musl_gcc):
    """The rename gives the path a new file; the running process keeps the one it started from."""
    (tmp_path / "wait.c").write_text("#include <unistd.h>\nint main(void) { char c; return read(0, &c, 1) != 1; }\n")
    app = compile_program(musl_gcc, tmp_path / "wait", tmp_path / "wait.c")
    process = subprocess.Popen([app], stdin=subprocess.PIPE)
    try:
        result = relinterp("patch", app, "--loader-rel", LOADER_REL)
        assert result.returncode == EXIT_OK, result.stderr  # no ETXTBSY: the running file is not written
        assert os.readlink(f"/proc/{process.pid}/exe") == f"{app} (deleted)"
    finally:
        process.communicate(b"x", timeout=60)
    assert process.returncode == 0
    assert "patched: yes" in relinterp("inspect", app).stdout


def test_a_hard_link_outside_the_run_keeps_the_old_content(app):
    other = app.parent.parent / "other-name"
    os.link(app, other)
    before = sha256(other)
    assert relinterp("patch", app, "--loader-rel", LOADER_REL).returncode == EXIT_OK
    assert sha256(other) == before != sha256(app)
    assert other.stat().st_nlink == 1 and not os.path.samefile(app, other)


# A POSIX ACL as the kernel stores it (system.posix_acl_access): version 2, then (tag,
# permissions, id) entries: the owner rwx, user nobody r-x, the group r-x, mask r-x, others r-x.
ACL = (2).to_bytes(4, "little") + b"".join(
    tag.to_bytes(2, "little") + perm.to_bytes(2, "little") + who.to_bytes(4, "little")
    for tag, perm, who in ((0x01, 7, 0xFFFFFFFF), (0x02, 5, NOBODY), (0x04, 5, 0xFFFFFFFF), (0x10, 5, 0xFFFFFFFF),
                           (0x20, 5, 0xFFFFFFFF)))


def test_extended_attributes_and_acls_are_kept_in_place_and_capabilities_are_said_to_go(app):
    os.setxattr(app, "user.origin", b"build 42")
    os.setxattr(app, "system.posix_acl_access", ACL)
    assert run(["setcap", "cap_net_raw+ep", app]).returncode == 0
    mode = stat.S_IMODE(app.stat().st_mode)
    result = relinterp("patch", app, "--loader-rel", LOADER_REL)
    assert result.returncode == EXIT_OK
    assert f"{app}: warning: its file capabilities are not kept" in result.stderr
    for step in ("patched", "restored"):
        if step == "restored":
            assert relinterp("restore", app).returncode == EXIT_OK
        assert os.getxattr(app, "user.origin") == b"build 42", step
        assert os.getxattr(app, "system.posix_acl_access") == ACL, step
        assert "security.capability" not in os.listxattr(app) and stat.S_IMODE(app.stat().st_mode) == mode, step
