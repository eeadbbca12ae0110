"""A sysroot is the target's file system: its paths are found inside it, symbolic links
resolved as the target resolves them; ld.so.conf and a glibc loader's system
directories are read from files, without running anything of the target."""

from __future__ import annotations

import os

import pytest

from relinterp.loaders.ldconf import conf_dirs
from relinterp.loaders.sysroot import HOST, Sysroot
from relinterp.loaders.trusted_dirs import trusted_dirs


@pytest.fixture
def root(tmp_path):
    """root/lib/libc.so.6; root/usr/lib -> /lib (absolute, as a target would write it)."""
    top = tmp_path / "root"
    (top / "lib").mkdir(parents=True)
    (top / "lib" / "libc.so.6").write_bytes(b"libc")
    (top / "usr").mkdir()
    (top / "usr" / "lib").symlink_to("/lib")
    return top


def test_an_absolute_link_is_followed_from_the_sysroots_top(root):
    sysroot = Sysroot.at(root)
    assert sysroot.locate("/usr/lib/libc.so.6") == str(root / "lib" / "libc.so.6")
    assert sysroot.locate("/usr/lib") == str(root / "lib")


def test_dot_dot_never_climbs_above_the_sysroot(root):
    (root / "lib" / "up").symlink_to("../../../../../lib/libc.so.6")
    assert Sysroot.at(root).locate("/lib/up") == str(root / "lib" / "libc.so.6")
    assert Sysroot.at(root).locate("/../../lib/libc.so.6") == str(root / "lib" / "libc.so.6")


def test_a_link_to_a_host_file_is_looked_up_in_the_sysroot_not_on_the_host(root):
    host_file = os.path.realpath("/etc/passwd")
    (root / "lib" / "libhost.so").symlink_to(host_file)
    located = Sysroot.at(root).locate("/lib/libhost.so")
    assert located == str(root) + host_file
    assert not os.path.exists(located)


def test_a_missing_part_is_kept_as_written_and_a_link_loop_names_nothing(root):
    sysroot = Sysroot.at(root)
    assert sysroot.locate("/opt/x/lib") == str(root / "opt" / "x" / "lib")
    (root / "lib" / "loop").symlink_to("/lib/loop")
    assert not os.path.exists(sysroot.locate("/lib/loop/libc.so.6"))


def test_the_sysroot_directory_itself_may_be_a_link(root, tmp_path):
    (tmp_path / "alias").symlink_to(root)
    assert Sysroot.at(tmp_path / "alias").locate("/usr/lib/libc.so.6") == str(root / "lib" / "libc.so.6")


def test_a_path_of_this_machine_inside_the_sysroot_is_resolved_as_the_target_would(root):
    sysroot = Sysroot.at(root)
    assert sysroot.resolve(str(root / "usr" / "lib" / "libc.so.6")) == str(root / "lib" / "libc.so.6")
    assert sysroot.resolve("/etc/passwd") == "/etc/passwd"  # not in the sysroot: as it is


def test_the_host_and_a_mounted_tree_are_their_own_paths(root, tmp_path):
    assert HOST.locate("/usr/lib/libc.so.6") == "/usr/lib/libc.so.6"
    tree = tmp_path / "tree"
    world = Sysroot.at(root, mounts=(tree,))
    assert world.locate(f"{tree}/lib/ld.so") == f"{tree}/lib/ld.so"
    assert world.locate("/lib/ld.so") == str(root / "lib" / "ld.so")


def test_what_a_sysroot_holds_and_admits(root, tmp_path):
    build = tmp_path / "build"
    build.mkdir()
    (build / "libown.so").write_bytes(b"own")
    (build / "libescape.so").symlink_to("/etc/passwd")
    sysroot = Sysroot.at(root)
    assert sysroot.holds(str(root / "lib" / "libc.so.6")) and not sysroot.holds("/etc/passwd")
    assert sysroot.admits(str(build / "libown.so"), str(build))
    assert not sysroot.admits(str(build / "libescape.so"), str(build))
    assert "/etc/passwd" in sysroot.why_outside(str(build / "libescape.so"), str(build))
    assert HOST.admits(str(build / "libescape.so"), str(build))
    only_tree = Sysroot.at(None, mounts=(build,))
    assert only_tree.holds(str(build / "libown.so")) and not only_tree.holds("/etc/passwd")


def conf(root, path: str, text: str) -> None:
    file = root / path.lstrip("/")
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text)


def test_ld_so_conf_names_directories_in_order_with_its_includes(root):
    conf(root, "/etc/ld.so.conf", "# comment\ninclude /etc/ld.so.conf.d/*.conf\n/opt/last/lib=libc6\nhwcap 1 x\n")
    conf(root, "/etc/ld.so.conf.d/b.conf", "/opt/b/lib/ # trailing slash and comment\n")
    conf(root, "/etc/ld.so.conf.d/a.conf", "include ../extra.conf\n/usr/lib\n")
    conf(root, "/etc/extra.conf", "/opt/extra\n")
    assert conf_dirs(Sysroot.at(root), "/etc/ld.so.conf") == (
        str(root / "opt" / "extra"), str(root / "lib"), str(root / "opt" / "b" / "lib"),
        str(root / "opt" / "last" / "lib"))


def test_ld_so_conf_that_is_missing_or_includes_itself_ends(root):
    assert conf_dirs(Sysroot.at(root), "/etc/ld.so.conf") == ()
    conf(root, "/etc/ld.so.conf", "include /etc/ld.so.conf\n/opt/a\n")
    assert conf_dirs(Sysroot.at(root), "/etc/ld.so.conf") == (str(root / "opt" / "a"),)


def test_a_glibc_loaders_system_directories_are_read_from_its_file(tmp_path):
    loader = tmp_path / "ld.so"
    dirs = b"\0/lib/s390x-linux-gnu/\0/usr/lib/s390x-linux-gnu/\0/lib/\0/usr/lib/\0"
    loader.write_bytes(b"\x7fELF" + dirs + b"\0/etc/\0" + b"/usr/lib/\0/lib/\0\0" + b"/proc/self/\0\0")
    assert trusted_dirs(str(loader)) == ("/lib/s390x-linux-gnu", "/usr/lib/s390x-linux-gnu", "/lib", "/usr/lib")
    other = tmp_path / "other.so"
    other.write_bytes(b"\x7fELF\0/usr/share/zoneinfo/\0/etc/zoneinfo/\0\0")
    assert trusted_dirs(str(other)) is None
