"""Fixtures for the release-tree tests: a small real project built with musl-gcc, and
the musl loader's own listing of what it loads, to check relinterp's closure against.

The project, in `build/` as a build system would leave it (no RUNPATH anywhere):
    chain           needs libmid.so; dlopen()s libplugin.so for "chain plugin"
    libmid.so       needs libbase.so, found through chain's search path (needed-by chain)
    libbase.so
    libplugin.so    loaded only by dlopen
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import MUSL_LOADER, PROGRAMS, Programs, compile_program, relinterp, run

SYSTEM_LOADER = "/lib/ld-musl-x86_64.so.1"  # the programs' PT_INTERP
TREE_LOADER = "lib/ld-musl-x86_64.so.1"
LISTING_LINE = re.compile(r"\t(\S+) => (\S+) \(0x[0-9a-f]+\)")


class Project(Programs):
    @property
    def build(self) -> Path:
        """The project's build directory, as a build system would leave it."""
        return self.dir


def compile_c(out: Path, *args) -> Path:
    return compile_program("musl-gcc", out, *args)


@pytest.fixture(scope="session")
def project(tmp_path_factory, musl_gcc) -> Project:
    build = tmp_path_factory.mktemp("project") / "build"
    build.mkdir()
    compile_c(build / "libbase.so", "-shared", "-fPIC", PROGRAMS / "base.c")
    compile_c(build / "libmid.so", "-shared", "-fPIC", PROGRAMS / "mid.c", f"-L{build}", "-lbase")
    compile_c(build / "libplugin.so", "-shared", "-fPIC", PROGRAMS / "plugin.c")
    compile_c(build / "chain", PROGRAMS / "chain.c", f"-L{build}", "-lmid", f"-Wl,-rpath-link,{build}")
    return Project(build)


def bundle(*args, **kwargs):
    return relinterp("bundle", *args, **kwargs)


def bundle_chain(project: Project, out: Path, *extra, **kwargs):
    """Bundle the project's program the way its README would."""
    result = bundle(project["chain"], "-o", out, "--library-path", project.build,
                    "--include", project["libplugin.so"], *extra, **kwargs)
    assert result.returncode == 0, result.stderr
    return result


def musl_listing(program: Path, *, loader: str = SYSTEM_LOADER, env: dict | None = None) -> dict[str, str]:
    """name -> real path of every library musl's loader maps for `program`, from the
    loader itself run as `ldd` (`LOADER --list PROGRAM`)."""
    result = run([loader, "--list", program], text=True, env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stdout + result.stderr
    return {m.group(1): os.path.realpath(m.group(2)) for m in LISTING_LINE.finditer(result.stdout)}


def closure_listing(closure, loader: str = SYSTEM_LOADER) -> dict[str, str]:
    """The same shape from relinterp's closure: names the loader provides map to it."""
    from relinterp.loaders.closure import FILE, LOADER

    listing = {}
    for r in closure.resolutions:
        if r.kind == FILE:
            listing.setdefault(r.name, os.path.realpath(r.path))
        elif r.kind == LOADER:
            listing.setdefault(r.name, os.path.realpath(loader))
    return listing


def copy_loader_to(directory: Path) -> Path:
    """A copy of the system musl loader at directory/lib/ld-musl-x86_64.so.1."""
    (directory / "lib").mkdir(parents=True, exist_ok=True)
    loader = directory / TREE_LOADER
    shutil.copy2(MUSL_LOADER, loader)
    return loader


def tree_files(root: Path) -> dict[str, str]:
    """relative path -> 'dir', 'link:TARGET' or the file's bytes' sha256, for comparing trees."""
    from conftest import sha256

    found = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = f"link:{os.readlink(path)}"
        elif path.is_dir():
            found[rel] = "dir"
        else:
            found[rel] = sha256(path)
    return found
