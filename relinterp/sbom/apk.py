"""apk's database (Alpine): the installed database, /lib/apk/db/installed, read once.

It is blocks of `X:value` lines, one block per package, separated by blank lines (apk-tools'
database.c): `P` name, `V` version, `A` architecture, `L` license, then for each
directory `F` (relative to /) the files `R` in it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

from .origin import Origin, Package, names_of, owned
from .purl import Distribution, package_url

INSTALLED = "/lib/apk/db/installed"


class ApkPackage(NamedTuple):
    name: str
    version: str
    arch: str
    license: str


def present(installed: str = INSTALLED) -> bool:
    try:
        return os.path.getsize(installed) > 0
    except OSError:
        return False


class Database:
    manager = "apk"

    def __init__(self, distribution: Distribution | None, installed: str = INSTALLED) -> None:
        self.distribution, self.installed = distribution, installed

    def look_up(self, files: Sequence[str]) -> ApkLookup:
        return ApkLookup(files, self.distribution, self.installed)


def parse_installed(text: str) -> dict[str, ApkPackage]:
    """path -> the package that installed it."""
    owners: dict[str, ApkPackage] = {}
    fields: dict[str, str] = {}
    files: list[str] = []
    directory = ""
    for line in text.splitlines() + [""]:
        key, _, value = line.partition(":")
        if not line:
            if fields.get("P"):
                package = ApkPackage(fields["P"], fields.get("V", ""), fields.get("A", ""), fields.get("L", ""))
                owners.update((path, package) for path in files)
            fields, files, directory = {}, [], ""
        elif key == "F":
            directory = value
        elif key == "R":
            files.append("/" + "/".join(p for p in (directory, value) if p))
        else:
            fields.setdefault(key, value)
    return owners


class ApkLookup:
    def __init__(self, files: Sequence[str], distribution: Distribution | None, installed: str) -> None:
        self.names = {f: names_of(f) for f in files}
        self.distribution, self.installed = distribution, installed

    def origins(self) -> dict[str, Origin]:
        try:
            with open(self.installed, encoding="utf-8", errors="surrogateescape") as stream:
                owners = parse_installed(stream.read())
        except OSError as error:
            note = f"package unknown: {self.installed} cannot be read ({error.strerror})"
            return {f: Origin(None, note) for f in self.names}
        return owned(self.names, owners, self._origin, "apk")

    def close(self) -> None:
        pass

    def _origin(self, package: ApkPackage, path: str) -> Origin:
        purl = None
        if self.distribution is not None:
            purl = package_url("apk", self.distribution.vendor, package.name, package.version,
                               {"arch": package.arch, "distro": self.distribution.qualifier})
        licenses = (package.license,) if package.license else ()
        note = None if licenses else "none declared: the package has no L: field"
        return Origin(Package("apk", f"{package.name}-{package.version}", package.version, purl, licenses, note,
                              path))
