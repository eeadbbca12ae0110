"""dpkg's database (Debian, Ubuntu): who owns each file, and each package's version.

Two queries, started together: `dpkg-query -S` with every file's names at once, and
`dpkg-query -W` for the name, version and architecture of every package; licenses come
from each package's DEP-5 copyright file.  `DPKG_ADMINDIR` chooses another database, as
for dpkg itself.

`dpkg-query -S` prints `PACKAGE[, PACKAGE...]: PATH` for a path the packages list, and for
a diverted one (dpkg-divert(1)) `diversion by PACKAGE from: PATH` and `... to: NEWPATH`
(`local diversion from/to` where the administrator made it).  A diverted path holds the
diverting package's file, if it ships one, else the administrator's; the package whose
file was moved aside owns it at NEWPATH.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from typing import NamedTuple

from .dep5 import package_licenses
from .origin import Origin, Package, Query, failed, names_of
from .purl import Distribution, package_url

FIELDS = "${binary:Package}\t${Version}\t${Architecture}\n"
GLOB = re.compile(r"([*?\[\\])")  # special in a dpkg-query -S pattern
DIVERSION = re.compile(r"^(?:diversion by (\S+)|local diversion) (from|to): (/.*)$")


def present() -> bool:
    status = os.path.join(os.environ.get("DPKG_ADMINDIR") or "/var/lib/dpkg", "status")
    try:
        return shutil.which("dpkg-query") is not None and os.path.getsize(status) > 0
    except OSError:
        return False


class Database:
    manager = "dpkg"

    def __init__(self, distribution: Distribution | None) -> None:
        self.distribution = distribution

    def look_up(self, files: Sequence[str]) -> DpkgLookup:
        return DpkgLookup(files, self.distribution)


class Search(NamedTuple):
    """What `dpkg-query -S` said."""

    owners: dict[str, tuple[str, ...]]  # path -> packages listing it
    diverted_from: dict[str, str | None]  # path -> diverter (None: local)
    diverted_to: dict[str, tuple[str, str | None]]  # new path -> (path, diverter)


def parse_search(text: str) -> Search:
    search, diverted = Search({}, {}, {}), ""
    for line in text.splitlines():
        diversion = DIVERSION.match(line)
        if diversion:
            package, direction, path = diversion.groups()
            if direction == "from":  # the "to" line of the same diversion follows
                search.diverted_from[path], diverted = package, path
            else:
                search.diverted_to[path] = (diverted, package)
        elif ": /" in line:
            packages, _, path = line.partition(": ")
            search.owners[path] = tuple(p.strip() for p in packages.split(","))
    return search


def parse_installed(text: str) -> dict[str, tuple[str, str]]:
    """`dpkg-query -W -f FIELDS`: package -> (version, architecture)."""
    installed = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1]:
            installed[parts[0]] = (parts[1], parts[2])
    return installed


def literal(path: str) -> str:
    """A path as a dpkg-query -S pattern that matches only itself."""
    return GLOB.sub(r"\\\1", path)


class DpkgLookup:
    def __init__(self, files: Sequence[str], distribution: Distribution | None) -> None:
        self.distribution, self.licenses = distribution, {}
        self.names = {f: names_of(f) for f in files}
        patterns = sorted({name for names in self.names.values() for name in names})
        self.search = Query(["dpkg-query", "-S", *map(literal, patterns)])
        self.installed = Query(["dpkg-query", "-W", "-f", FIELDS])

    def origins(self) -> dict[str, Origin]:
        status, out, err = self.search.result()
        listed, listing, why = self.installed.result()
        if status not in (0, 1) or listed != 0:
            note = failed(self.search, status, err) if status not in (0, 1) else failed(self.installed, listed, why)
            return {f: Origin(None, f"package unknown: {note}") for f in self.names}
        search = parse_search(out)
        _add_originals(search)
        installed = parse_installed(listing)
        return {f: self._origin(names, search, installed) for f, names in self.names.items()}

    def close(self) -> None:
        self.search.close()
        self.installed.close()

    def _origin(self, names: tuple[str, ...], search: Search, installed: dict) -> Origin:
        notes = []
        for name in names:
            package, note = owner(name, search)
            if package is not None:
                return self._package(package, name, installed)
            notes.append(note)
        return Origin(None, "; ".join(n for n in notes if n) or f"no dpkg package owns {' or '.join(names)}")

    def _package(self, package: str, path: str, installed: dict) -> Origin:
        if package not in installed:
            return Origin(None, f"dpkg lists {package} as the owner of {path}, but no version of it")
        version, arch = installed[package]
        base = package.split(":")[0]
        if base not in self.licenses:
            self.licenses[base] = package_licenses(base)
        declared = self.licenses[base]
        purl = None
        if self.distribution is not None:
            purl = package_url("deb", self.distribution.vendor, base, version,
                               {"arch": arch, "distro": self.distribution.qualifier})
        return Origin(Package("dpkg", package, version, purl, declared.names, declared.note, path))


def owner(path: str, search: Search) -> tuple[str | None, str]:
    """The package whose file is at `path`, or None and why."""
    if path in search.diverted_from:
        diverter = search.diverted_from[path]
        if diverter is not None and diverter in search.owners.get(path, ()):
            return diverter, ""
        by = f"the package {diverter}" if diverter else "the administrator (a local diversion)"
        return None, f"{path} is diverted by {by}: the file there is no package's"
    if path in search.diverted_to:
        original, diverter = search.diverted_to[path]
        packages = [p for p in search.owners.get(original, ()) if p != diverter]
        return (packages[0], "") if packages else (None, f"{path} is the diverted {original}, of no package")
    packages = search.owners.get(path)
    return (sorted(packages)[0], "") if packages else (None, "")


def _add_originals(search: Search) -> None:
    """The owners of each path diverted to a file asked for: a second query, only then."""
    originals = sorted({original for original, _ in search.diverted_to.values()} - set(search.owners))
    if originals:
        _, out, _ = Query(["dpkg-query", "-S", *map(literal, originals)]).result()
        search.owners.update({k: v for k, v in parse_search(out).owners.items() if k in originals})
