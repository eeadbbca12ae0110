"""Without /proc (chroots, minimal containers) the stub takes $ORIGIN from AT_EXECFN, made
absolute against the working directory and with every symbolic link resolved as the
kernel resolved it, so that it names the directory /proc/self/exe would have named.
Run with /proc and the system's musl loader both hidden."""

from __future__ import annotations

import sys

import pytest

from conftest import HIDE_MUSL, run, run_hidden
from discovery_support import run_traced

pytestmark = pytest.mark.usefixtures("namespace")


@pytest.fixture
def tree(ship_program, tmp_path):
    """tmp/real/dist (bin/app, lib/ld-musl.so), and tmp/elsewhere to start it from."""
    (tmp_path / "real").mkdir()
    dist = ship_program("hello", root=tmp_path / "real" / "dist")
    (tmp_path / "elsewhere").mkdir()
    return dist


def test_through_links_in_another_directory_origin_is_the_real_directory(tree, tmp_path):
    # elsewhere/bin/tool -> ../../hop/tool (relative target) -> /.../real/dist/bin/app (absolute)
    (tmp_path / "hop").mkdir()
    (tmp_path / "hop" / "tool").symlink_to(tree.app)
    (tmp_path / "elsewhere" / "bin").mkdir()
    (tmp_path / "elsewhere" / "bin" / "tool").symlink_to("../../hop/tool")
    result, trace = run_traced(["bin/tool"], hide_proc=True, cwd=tmp_path / "elsewhere")
    assert (result.returncode, result.stdout) == (0, "hello\n"), result.stderr
    assert trace[0] == (f"$ORIGIN {tree.app.parent} (from AT_EXECFN bin/tool, made absolute, links resolved; "
                        "/proc/self/exe: No such file or directory)")


def test_dot_dot_after_a_link_is_taken_physically(tree, tmp_path):
    # elsewhere/sub -> real/dist/bin/deeper, so elsewhere/sub/../app is real/dist/bin/app,
    # as the kernel found it; lexically it would be elsewhere/app, next to no loader.
    (tree.app.parent / "deeper").mkdir()
    (tmp_path / "elsewhere" / "sub").symlink_to(tree.app.parent / "deeper")
    result = run_hidden(["sub/../app"], hide_proc=True, cwd=tmp_path / "elsewhere")
    assert (result.returncode, result.stdout) == (0, "hello\n"), result.stderr


def test_a_chain_of_40_links_is_followed_as_the_kernel_does(tree, tmp_path):
    chain = tmp_path / "chain"
    chain.mkdir()
    (chain / "l0").symlink_to(tree.app)
    for i in range(1, 40):  # 40 links in all: the kernel's limit for one path
        (chain / f"l{i}").symlink_to(f"l{i - 1}")
    result, trace = run_traced([chain / "l39"], hide_proc=True)
    assert (result.returncode, result.stdout) == (0, "hello\n"), result.stderr
    assert trace[0].startswith(f"$ORIGIN {tree.app.parent} (from AT_EXECFN {chain}/l39,")


def test_a_link_loop_leaves_origin_unknown_and_says_why(tree):
    # fexecve names the program "/dev/fd/N" in AT_EXECFN; with /dev/fd a link to itself,
    # that path loops.  Python's os.execve(fd, ...) is fexecve.
    script = f"mount -t tmpfs none /proc && mount -t tmpfs none /dev && ln -s fd /dev/fd && {HIDE_MUSL}"
    launch = f"import os; os.execve(os.open({str(tree.app)!r}, os.O_RDONLY), ['app'], {{}})"
    result = run(["unshare", "-m", "sh", "-c", script, "sh", sys.executable, "-c", launch], text=True)
    assert result.returncode == 127
    assert result.stderr == ("app: relinterp: no usable loader: $ORIGIN/../lib/ld-musl.so "
                             "(not tried: $ORIGIN unknown: Symbolic link loop)\n")
