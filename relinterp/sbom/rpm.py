"""rpm's database (Fedora, RHEL, SUSE): one `rpm -qf` for every file at once.

`rpm -qf FILE...` prints its query format once for each package owning each file.  The
format here prints every file of such a package with the package's name, epoch, version,
release, architecture and license (`[...]` repeats for each file, `%{=TAG}` is the
package's own value), and the files asked for are picked out of that.  A file no package
owns gets `file FILE is not owned by any package` on stdout, one that does not exist
`error: file FILE: No such file or directory` on stderr; both are passed over, and the
exit status counts them, so only other messages on stderr mean the query failed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from typing import NamedTuple

from .origin import Origin, Package, Query, failed, names_of, owned
from .purl import Distribution, package_url

FORMAT = "[%{=NAME}\\t%{=EPOCHNUM}\\t%{=VERSION}\\t%{=RELEASE}\\t%{=ARCH}\\t%{=LICENSE}\\t%{FILENAMES}\\n]"
DATABASES = ("/var/lib/rpm", "/usr/lib/sysimage/rpm")  # where rpm keeps it, older and newer
DATABASE_FILES = ("rpmdb.sqlite", "Packages", "Packages.db")


class RpmPackage(NamedTuple):
    name: str
    epoch: str
    version: str  # VERSION-RELEASE, as the purl has it
    arch: str
    license: str

    @property
    def nevra(self) -> str:
        return f"{self.name}-{self.version}.{self.arch}"


def present() -> bool:
    if shutil.which("rpm") is None:
        return False
    return any(os.path.isfile(os.path.join(d, f)) for d in DATABASES for f in DATABASE_FILES)


class Database:
    manager = "rpm"

    def __init__(self, distribution: Distribution | None) -> None:
        self.distribution = distribution

    def look_up(self, files: Sequence[str]) -> RpmLookup:
        return RpmLookup(files, self.distribution)


def parse_files(text: str) -> dict[str, RpmPackage]:
    """path -> the package listing it (the first, where several do)."""
    owners: dict[str, RpmPackage] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 7 and parts[6].startswith("/"):
            name, epoch, version, release, arch, license, path = parts
            owners.setdefault(path, RpmPackage(name, epoch, f"{version}-{release}", arch, license))
    return owners


class RpmLookup:
    def __init__(self, files: Sequence[str], distribution: Distribution | None) -> None:
        self.distribution = distribution
        self.names = {f: names_of(f) for f in files}
        patterns = sorted({name for names in self.names.values() for name in names})
        self.query = Query(["rpm", "-qf", "--qf", FORMAT, "--", *patterns])

    def origins(self) -> dict[str, Origin]:
        status, out, err = self.query.result()
        owners = parse_files(out)
        trouble = [line for line in err.splitlines() if line.strip() and not line.startswith("error: file ")]
        if status < 0 or trouble:
            note = failed(self.query, status, "\n".join(trouble) or err)
            return {f: Origin(None, f"package unknown: {note}") for f in self.names}
        return owned(self.names, owners, self._origin, "rpm")

    def close(self) -> None:
        self.query.close()

    def _origin(self, package: RpmPackage, path: str) -> Origin:
        purl = None
        if self.distribution is not None:
            qualifiers = {"arch": package.arch, "distro": self.distribution.qualifier,
                          "epoch": "" if package.epoch in ("", "0", "(none)") else package.epoch}
            purl = package_url("rpm", self.distribution.vendor, package.name, package.version, qualifiers)
        licenses = (package.license,) if package.license not in ("", "(none)") else ()
        note = None if licenses else "none declared: the package's License tag is empty"
        return Origin(Package("rpm", package.nevra, package.version, purl, licenses, note, path))
