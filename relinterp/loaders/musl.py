"""musl's dynamic loader: where it looks for libraries, and which musl a loader file is.

The rules, as musl's ldso/dynlink.c (load_library, fixup_rpath, path_open) applies them:
- names starting "libc.", "libpthread.", "librt.", "libm.", "libdl.", "libutil.",
  "libxnet." are the loader itself: musl's libc.so *is* its loader;
- a name holding a '/' is opened as it is;
- any other name is searched in LD_LIBRARY_PATH; then in the RPATH/RUNPATH of the object
  that needs it, then of the object that needed that one, and so on up to the program
  (RPATH and RUNPATH alike; RUNPATH wins when both are present); then in the directories
  of the path file PREFIX/etc/ld-musl-ARCH.path, where PREFIX is the loader's pathname
  without its last two components; without that file, in /lib, /usr/local/lib, /usr/lib;
- lists are separated by ':' or newlines, empty entries skipped;
- `$ORIGIN` / `${ORIGIN}` is the directory of the object: for a library the path it was
  opened by; for the program readlink("/proc/self/exe"), so without /proc (or in a
  setuid program) the program's own list is skipped.  Any other `$` token makes musl
  ignore the whole list;
- dlopen() of a bare name searches as if the program needed it.
In a sysroot (relinterp.loaders.sysroot) the path file, the default directories and
absolute RPATH/RUNPATH entries are the target's, found there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence

from ..elf.regular import open_regular
from ..elf.searchlist import expand_origin, other_tokens, split_list
from .closure import Node
from .sysroot import HOST, Sysroot

RESERVED = ("c.", "pthread.", "rt.", "m.", "dl.", "util.", "xnet.")
DEFAULT_SYS_PATH = ("/lib", "/usr/local/lib", "/usr/lib")
# musl's VERSION string, e.g. "1.2.3" or "1.2.5-git-12-gabc": stored NUL-terminated.
VERSION_STRING = re.compile(rb"\0(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.+_-]*)?\0")
MUSL_MARK = b"musl libc ("  # the loader's usage text: "musl libc (x86_64)\nVersion %s"
PATH_FILE_FORMAT = re.compile(rb"%\.\*s/etc/ld-musl-([A-Za-z0-9_.+-]+)\.path\0")
RELR_SINCE = (1, 2, 4)  # musl applies DT_RELR relocations from 1.2.4 on


def musl_arch(interp: str | None) -> str | None:
    """LDSO_ARCH from the loader's conventional name, ld-musl-ARCH.so.1 (None when it is
    known by another name, such as Debian's .../x86_64-linux-musl/libc.so)."""
    name = os.path.basename(interp or "")
    if not name.startswith("ld-musl-"):
        return None
    return name[len("ld-musl-"):].split(".so", 1)[0] or None


def provided_by_loader(name: str) -> bool:
    return name.startswith("lib") and name[3:].startswith(RESERVED)


def musl_version(loader: str) -> tuple[int, int, int] | None:
    """The version of the musl whose loader is the file `loader`; None when the file is
    not a musl loader or its version string cannot be told apart."""
    try:
        with open_regular(loader) as stream:
            data = stream.read()
    except OSError:
        return None
    return musl_version_in(data)


def musl_version_in(data: bytes) -> tuple[int, int, int] | None:
    """musl_version() of a loader's bytes."""
    if MUSL_MARK not in data:
        return None
    found = {tuple(int(part) for part in m.groups()) for m in VERSION_STRING.finditer(data)}
    return found.pop() if len(found) == 1 else None


def musl_arch_in(data: bytes) -> str | None:
    """LDSO_ARCH from the loader's own bytes: it builds the path of its path file from
    "%.*s/etc/ld-musl-ARCH.path"."""
    found = PATH_FILE_FORMAT.search(data)
    return found.group(1).decode("ascii") if found else None


class MuslRules:
    """musl's search, for a loader known by the pathname `loader_name` (what the program's
    PT_INTERP says, or the path relinterp's stub hands it) whose file is `loader`."""

    by_soname = False  # musl knows a loaded library by the name it was loaded as, not its SONAME

    def __init__(self, loader_name: str, *, loader: str | None = None, arch: str | None = None,
                 library_path: Sequence[str] = (), proc: bool = True, sysroot: Sysroot = HOST) -> None:
        self.loader = loader
        self.loader_name = loader_name
        self.library_path = tuple(library_path)
        self.proc = proc
        self.sysroot = sysroot
        self.path_file = self._path_file(loader_name, arch or musl_arch(loader_name))
        self.sys_path = tuple(sysroot.locate(d) for d in self._sys_path(self.path_file, sysroot))

    def provides(self, name: str) -> bool:
        return provided_by_loader(name)

    def dlopen_needer(self, program: Node) -> Node:
        return program

    def accepts(self, path: str, needer: Node) -> bool:
        return True  # musl maps the first file it opens, whatever it is

    def candidates(self, name: str, needer: Node) -> Iterator[tuple[str, str]]:
        for directory in self.search_dirs(needer):
            yield directory, os.path.join(directory, name)

    def search_dirs(self, needer: Node) -> Iterator[str]:
        yield from self.library_path
        for node in needer.chain():
            yield from self.object_dirs(node)
        yield from self.sys_path

    def object_dirs(self, node: Node) -> list[str]:
        """The directories of `node`'s own RPATH/RUNPATH, as musl expands them."""
        text = node.object.search_path
        if not text:
            return []
        origin = None
        if "$" in text:
            if other_tokens(text):
                return []  # a token musl does not know: it ignores the whole list
            origin = node.origin(self.proc)
            if origin is None:
                return []
        entries = split_list(text)
        expanded = [expand_origin(entry, origin) if origin else entry for entry in entries]
        return [self.sysroot.locate(path) if entry.startswith("/") else path for entry, path in zip(entries, expanded)]

    @staticmethod
    def _path_file(loader_name: str, arch: str | None) -> str | None:
        if arch is None:
            return None
        prefix = ""
        if loader_name.startswith("/"):
            prefix = loader_name.rsplit("/", 2)[0] if loader_name.count("/") >= 2 else ""
        return f"{prefix}/etc/ld-musl-{arch}.path"

    @staticmethod
    def _sys_path(path_file: str | None, sysroot: Sysroot) -> tuple[str, ...]:
        """The directories of the path file (the target's paths), or musl's defaults."""
        located = sysroot.locate(path_file) if path_file is not None else None
        if located is None or not sysroot.holds(located):
            return DEFAULT_SYS_PATH
        try:
            with open_regular(located) as stream:
                return tuple(split_list(stream.read().decode("utf-8", errors="surrogateescape")))
        except FileNotFoundError:
            return DEFAULT_SYS_PATH
        except OSError:
            return ()  # unreadable for another reason: musl then searches no system directory
