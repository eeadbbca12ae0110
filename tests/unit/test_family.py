"""The libc family is told from the loader's name, as the distributions install it."""

from __future__ import annotations

import pytest

from relinterp.loaders.family import GLIBC, MUSL, UNKNOWN, libc_family


@pytest.mark.parametrize("interp", [
    "/lib/ld-musl-x86_64.so.1",
    "/lib/ld-musl-aarch64.so.1",
    "/lib/ld-musl-armhf.so.1",
    "/lib/ld-musl-riscv64.so.1",
    "/lib/x86_64-linux-musl/libc.so",  # Debian's musl, named by its real file
    "/usr/lib/musl/lib/libc.so",
    "ld-musl-i386.so.1",
])
def test_musl_loaders_are_musl(interp):
    assert libc_family(interp) == MUSL


@pytest.mark.parametrize("interp", [
    "/lib64/ld-linux-x86-64.so.2",
    "/lib/ld-linux-aarch64.so.1",
    "/lib/ld-linux-armhf.so.3",
    "/lib/ld-linux.so.2",  # i386
    "/lib/ld-linux.so.3",  # armel
    "/lib/ld-linux-riscv64-lp64d.so.1",
    "/libx32/ld-linux-x32.so.2",
    "/lib64/ld64.so.2",  # ppc64le
    "/lib/ld64.so.1",  # s390x
    "/opt/glibc-2.40/lib/ld-linux-x86-64.so.2",
])
def test_glibc_loaders_are_glibc(interp):
    assert libc_family(interp) == GLIBC


@pytest.mark.parametrize("interp", [
    None,
    "",
    "/system/bin/linker64",  # Android
    "/lib/ld-uClibc.so.0",
    "/usr/lib/libc.so",  # a libc.so outside any musl directory
    "/lib/musl/ld-linux-x86-64.so.2.bak",
    "/lib/ld-linux-x86-64.so",  # no version: not how glibc names it
    "/lib/ld-musl-x86_64.so.1/other",
])
def test_other_names_are_unknown(interp):
    assert libc_family(interp) == UNKNOWN
