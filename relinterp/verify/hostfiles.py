"""What a glibc program may still take from the machine it runs on, whatever its tree
holds: glibc loads these by name, from places its build chose, when the program first
asks for them.

- NSS modules (libnss_NAME.so.2), for the services the *host's* /etc/nsswitch.conf names,
  when the program looks up users, groups, hosts or services; `files` and `dns` are part
  of libc.so.6 since glibc 2.34, and `bundle` ships glibc's own modules (compat, hesiod,
  ...).  They are found through the program's RPATH first, then the host's directories.
- gconv modules, for iconv_open() of a charset libc.so.6 does not convert itself (UTF-8,
  UCS-2, UCS-4, ASCII and a few more are built in): from $GCONV_PATH, else the build's
  gconv directory -- on another machine, that machine's modules.
- locales other than C and POSIX (C.UTF-8 included), for setlocale()/newlocale(): from
  $LOCPATH, else the build's /usr/lib/locale.
A module from another glibc build than the tree's libc.so.6 may fail to load or misbehave
(gconv and NSS modules use GLIBC_PRIVATE).  relinterp cannot know what the host will
configure, so `verify` notes which files of a tree call these entry points.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from elftools.elf.elffile import ELFFile

from ..elf.linked import LinkedObject
from ..loaders.glibc import PRIVATE
from ..elf.regular import open_regular

NSS = ("getpwnam", "getpwnam_r", "getpwuid", "getpwuid_r", "getpwent", "getgrnam", "getgrnam_r", "getgrgid",
       "getgrgid_r", "getgrent", "getgrouplist", "initgroups", "getspnam", "getspnam_r", "getaddrinfo",
       "getnameinfo", "gethostbyname", "gethostbyname2", "gethostbyname_r", "gethostbyname2_r", "gethostbyaddr",
       "gethostbyaddr_r", "getservbyname", "getservbyname_r", "getservbyport", "getprotobyname", "getnetgrent",
       "innetgr", "getpwent_r", "getgrent_r", "getlogin_r")
GCONV = ("iconv_open",)
LOCALE = ("setlocale", "newlocale")

NSS_MODULE = re.compile(r"libnss_(\w+)\.so\.2")
# (entry points, what glibc then loads)
KINDS = (
    (frozenset(NSS), "NSS modules (libnss_*.so.2) for the services the host's /etc/nsswitch.conf names "
                     "({shipped})"),
    (frozenset(GCONV), "gconv modules for charsets libc.so.6 lacks, from $GCONV_PATH, else from the host"),
    (frozenset(LOCALE), "locales other than C/POSIX, from $LOCPATH, else from the host"),
)


def imported_names(path: str) -> frozenset[str]:
    """The undefined symbols of a file's dynamic symbol table, without version suffixes."""
    with open_regular(path) as stream:
        elf = ELFFile(stream)
        names = set()
        for section in elf.iter_sections():
            if section["sh_type"] == "SHT_DYNSYM":
                names.update(s.name for s in section.iter_symbols() if s["st_shndx"] == "SHN_UNDEF" and s.name)
    return frozenset(names)


def part_of_glibc(obj: LinkedObject) -> bool:
    """One of glibc's own files (libc.so.6, libm.so.6, the loader, ...): they share GLIBC_PRIVATE."""
    return PRIVATE in obj.version_defs or any(PRIVATE in versions for _, versions in obj.version_needs)


def host_file_notes(objects: Iterable[LinkedObject]) -> list[tuple[str, str]]:
    """(path, note) for each file, other than glibc's own, that calls into what glibc
    loads from the host; a file reached by two paths is noted once, by the shorter."""
    files: dict[str, str] = {}
    services = set()
    for obj in sorted(objects, key=lambda o: (len(o.path), o.path)):
        module = NSS_MODULE.fullmatch(os.path.basename(obj.path))
        if module:
            services.add(module.group(1))
        if not part_of_glibc(obj):
            files.setdefault(os.path.realpath(obj.path), obj.path)
    shipped = (f"but those the tree holds: {', '.join(sorted(services))}" if services else
               "files and dns are in libc.so.6")
    notes = []
    for path in sorted(files.values()):
        try:
            imported = imported_names(path)
        except OSError:
            continue
        for entry_points, what in KINDS:
            calls = sorted(entry_points & imported)
            if calls:
                notes.append((path, f"calls {', '.join(calls)}: glibc then loads {what.format(shipped=shipped)}"))
    return notes
