"""Outputs that are not regular files are never replaced by one: `patch -o`/`restore -o`
naming a device, a FIFO or a symlink to one is refused, leaving it as it was; `bundle
--tar` writes through a FIFO, a character device or stdout (`-`, /dev/stdout), and
refuses other non-files.  The devices are made with mknod under the test's directory,
never the host's."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from conftest import relinterp

pytestmark = pytest.mark.usefixtures("musl_gcc")


def null_device(path: Path) -> Path:
    """A character device like /dev/null (1:3), made here."""
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return path


def as_it_was(path: Path, before: os.stat_result) -> bool:
    after = os.lstat(path)
    return (after.st_ino, after.st_mode, after.st_rdev) == (before.st_ino, before.st_mode, before.st_rdev)


@pytest.fixture
def app(ship_program, tmp_path):
    return ship_program("hello", patch=False, root=tmp_path / "unpatched").app


@pytest.fixture
def patched(ship_program, tmp_path):
    return ship_program("hello", root=tmp_path / "patched").app


@pytest.mark.parametrize("command", ["patch", "restore"])
@pytest.mark.parametrize("kind", ["character device", "FIFO", "symlink to a character device"])
def test_o_naming_a_device_or_fifo_is_refused_and_left_as_it_was(app, patched, tmp_path, command, kind):
    if kind == "FIFO":
        out = tmp_path / "fifo"
        os.mkfifo(out)
    else:
        out = null_device(tmp_path / "null")
    named = out
    if kind.startswith("symlink"):
        named = tmp_path / "link"
        named.symlink_to(out)
    before = {p: os.lstat(p) for p in {out, named}}
    args = (app, "--loader-rel", "../lib/ld-musl.so") if command == "patch" else (patched,)
    result = relinterp(command, *args, "-o", named, timeout=60)
    shown = "FIFO" if kind == "FIFO" else "character device"
    assert (result.returncode, result.stderr) == \
        (1, f"{named}: is a {shown}, not a regular file: -o writes a file, so nothing was written\n")
    assert all(as_it_was(p, info) for p, info in before.items())


def test_o_dev_stdout_on_a_pipe_is_refused_and_dev_stdout_kept(app):
    before = os.lstat("/dev/stdout")
    result = relinterp("patch", app, "--loader-rel", "../lib/ld-musl.so", "-o", "/dev/stdout")
    assert (result.returncode, result.stderr) == \
        (1, "/dev/stdout: is a FIFO, not a regular file: -o writes a file, so nothing was written\n")
    assert as_it_was(Path("/dev/stdout"), before)


def test_o_naming_a_symlink_to_a_file_writes_the_file_not_over_the_link(app, tmp_path):
    (tmp_path / "out").write_bytes(b"old")
    (tmp_path / "link").symlink_to("out")
    result = relinterp("patch", app, "--loader-rel", "../lib/ld-musl.so", "-o", tmp_path / "link")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "link").is_symlink() and (tmp_path / "out").read_bytes()[:4] == b"\x7fELF"


@pytest.fixture
def bundle_args(project):
    return [project["chain"], "--library-path", project.build]


def members(archive: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return sorted(tar.getnames())


def test_tar_naming_a_symlink_to_a_character_device_writes_through_it(bundle_args, tmp_path):
    device = null_device(tmp_path / "null")
    (tmp_path / "out.tar.gz").symlink_to(device)
    before = {p: os.lstat(p) for p in (device, tmp_path / "out.tar.gz")}
    result = relinterp("bundle", *bundle_args, "-o", tmp_path / "dist", "--tar", tmp_path / "out.tar.gz")
    assert result.returncode == 0, result.stderr
    assert all(as_it_was(p, info) for p, info in before.items())
    assert sorted(os.listdir(tmp_path)) == ["dist", "null", "out.tar.gz"]


def test_tar_naming_a_fifo_writes_the_archive_into_it(bundle_args, tmp_path):
    fifo = tmp_path / "archive"
    os.mkfifo(fifo)
    read = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_bytes()))
    reader.start()
    result = relinterp("bundle", *bundle_args, "-o", tmp_path / "dist", "--tar", fifo)
    reader.join()
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert "dist/bin/chain" in members(read[0])


@pytest.mark.parametrize("name", ["-", "/dev/stdout"])
def test_tar_to_stdout_writes_the_archive_there_and_the_report_to_stderr(bundle_args, tmp_path, name):
    result = subprocess.run([sys.executable, "-m", "relinterp", "bundle", *map(str, bundle_args), "-o",
                             str(tmp_path / "dist"), "--tar", name], capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "dist/bin/chain" in members(result.stdout)
    assert f"{tmp_path / 'dist'}: 1 program" in result.stderr.decode()
    assert sorted(os.listdir(tmp_path)) == ["dist"]


def test_tar_to_stdout_with_json_is_a_usage_error(bundle_args, tmp_path):
    result = relinterp("bundle", *bundle_args, "-o", tmp_path / "dist", "--tar", "-", "--json")
    assert result.returncode == 2 and "would both write to stdout" in result.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kind", ["block device", "directory"])
def test_tar_naming_another_kind_of_file_is_refused_before_anything_is_written(bundle_args, tmp_path, kind):
    target = tmp_path / "target"
    if kind == "directory":
        target.mkdir()
    else:
        os.mknod(target, 0o600 | stat.S_IFBLK, os.makedev(7, 250))  # never opened
    before = os.lstat(target)
    result = relinterp("bundle", *bundle_args, "-o", tmp_path / "dist", "--tar", target)
    assert (result.returncode, result.stderr) == (1, f"{target}: is a {kind}: the archive goes to a file, a FIFO "
                                                     "or a character device, so nothing was written\n")
    assert as_it_was(target, before) and sorted(os.listdir(tmp_path)) == ["target"]
