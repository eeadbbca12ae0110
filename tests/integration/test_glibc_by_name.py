"""What glibc loads by name, shipped in a glibc tree by default: libgcc_s.so.1 (the
unwinder behind pthread_exit() and backtrace()) and the NSS modules of the shipped
libc.so.6's build, each proven in a root holding nothing of this machine's glibc, with
a tree made without them as the control."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import PROGRAMS, relinterp, run, unavailable
from glibc_bundle_support import gcc

PASSWD = "root:x:0:0:root:/root:/bin/sh\n"


def bundle(*args):
    result = relinterp("bundle", *args)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def unwind(tmp_path_factory, system_glibc) -> Path:
    build = tmp_path_factory.mktemp("unwind")
    program = gcc(build / "unwind", PROGRAMS / "glibc/unwind.c", "-pthread")
    assert "libgcc_s" not in run(["readelf", "-d", program], text=True).stdout  # loaded by name only
    return program


def test_pthread_exit_and_backtrace_work_in_an_empty_root(unwind, tmp_path):
    bundle(unwind, "-o", tmp_path / "dist")
    assert (tmp_path / "dist/lib/libgcc_s.so.1").is_file()
    result = relinterp("verify", tmp_path / "dist", "--run", "")
    assert result.returncode == 0, result.stdout
    assert "  | backtrace: frames found" in result.stdout.splitlines()
    assert "  | pthread_exit: the thread returned 42" in result.stdout.splitlines()


def test_without_libgcc_s_pthread_exit_aborts_in_an_empty_root(unwind, tmp_path):
    bundle(unwind, "-o", tmp_path / "dist", "--no-glibc-by-name")
    assert not (tmp_path / "dist/lib/libgcc_s.so.1").exists()
    result = relinterp("verify", tmp_path / "dist", "--run", "")
    assert result.returncode == 1
    assert "  | backtrace: no frame" in result.stdout.splitlines()
    assert "libgcc_s.so.1 must be installed for pthread_exit to work" in result.stdout
    assert "FAIL bin/unwind: run: " in result.stdout  # aborted (bwrap reports 128 + SIGABRT)


def test_the_json_document_says_what_came_in_by_name(unwind, tmp_path):
    result = bundle(unwind, "-o", tmp_path / "dist", "-n", "--json")
    by_name = {f["path"] for f in json.loads(result.stdout)["files"] if f["found_by"] == "glibc-by-name"}
    assert {"lib/libgcc_s.so.1", "lib/libnss_compat.so.2", "lib/libnss_files.so.2"} <= by_name
    assert "lib/libc.so.6" not in by_name and "lib/libresolv.so.2" not in by_name  # needed, not loaded by name


# ---------------------------------------------------------------- NSS: a root whose nsswitch.conf says compat

@pytest.fixture(scope="module")
def getent(system_glibc) -> str:
    found = shutil.which("getent")
    if found is None:
        unavailable("getent is needed (it comes with libc-bin)")
    return found


def lookup_in_root(tree: Path, etc: Path) -> object:
    """`getent passwd root` run from the tree in a root holding only the tree (at /bundle)
    and `etc` (at /etc), with /proc and /dev."""
    if shutil.which("bwrap") is None:
        unavailable("bubblewrap is needed (apt-get install bubblewrap)")
    return run(["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", tree, "/bundle", "--ro-bind", etc,
                "/etc", "--proc", "/proc", "--dev", "/dev", "--", "/bundle/bin/getent", "passwd", "root"],
               text=True, env={})


@pytest.fixture
def compat_etc(tmp_path) -> Path:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text(PASSWD)
    (etc / "nsswitch.conf").write_text("passwd: compat\n")
    return etc


def test_getent_finds_root_through_the_shipped_compat_module(getent, compat_etc, tmp_path):
    bundle(getent, "-o", tmp_path / "dist")
    found = lookup_in_root(tmp_path / "dist", compat_etc)
    assert (found.returncode, found.stdout) == (0, PASSWD), found.stderr


def test_without_the_compat_module_getent_finds_nothing(getent, compat_etc, tmp_path):
    bundle(getent, "-o", tmp_path / "dist", "--no-glibc-by-name")
    found = lookup_in_root(tmp_path / "dist", compat_etc)
    assert (found.returncode, found.stdout) == (2, "")  # glibc says nothing: the service is just unavailable
