"""Which distribution package each file came from, as the system's package database says.

One small interface, one implementation per package manager (relinterp.sbom.dpkg, .rpm,
.apk): `look_up(files)` starts one batched query for all the files and returns at once;
`Lookup.origins()` waits for it and says, for each file, its package or why it has none.
bundle starts the query before it copies the tree, so that the database is read while the
tree is being built.

A file is asked for by its real path (the bytes copied are that file's: callers pass real
paths) and, where /usr is merged (/lib a link to usr/lib), by its other name too: a
database may know /usr/lib/x86_64-linux-gnu/libz.so.1.2.13 as
/lib/x86_64-linux-gnu/libz.so.1.2.13, the path its package was built with.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, Protocol

from .purl import Distribution, read_distribution

MERGED_DIRS = frozenset({"bin", "sbin", "lib", "lib32", "lib64", "libx32", "libo32"})  # /X -> usr/X


class Package(NamedTuple):
    manager: str  # dpkg, rpm, apk
    name: str  # as the manager names it, e.g. libssl3:amd64
    version: str
    purl: str
    licenses: tuple[str, ...] = ()  # as declared, machine-readably
    license_note: str | None = None  # why there are none
    owned_as: str = ""  # the path the database knows the file by


class Origin(NamedTuple):
    package: Package | None
    note: str = ""  # no package: why (a sentence naming the file and the database)


class Lookup(Protocol):
    def origins(self) -> dict[str, Origin]:
        """Wait for the query; an origin for each file asked for, by the name it was asked by."""

    def close(self) -> None:
        """Stop the query: its answer is not needed."""


class PackageDatabase(Protocol):
    manager: str

    def look_up(self, files: Sequence[str]) -> Lookup:
        """Start the query for `files` (real paths: symbolic links resolved) and return
        without waiting."""


def find_database(distribution: Distribution | None = None) -> PackageDatabase | None:
    """The package database of this system: the first of dpkg, apk, rpm that holds packages
    (only that one's module is imported)."""
    import importlib

    distribution = distribution or read_distribution()
    for name in ("dpkg", "apk", "rpm"):
        manager = importlib.import_module(f"{__package__}.{name}")
        if manager.present():
            return manager.Database(distribution)
    return None


def names_of(real: str) -> tuple[str, ...]:
    """The paths a package database may know a file by: its real path first, then the
    same under merged /usr, with or without the /usr, where both name one directory."""
    parts = real.split("/")
    if len(parts) > 3 and parts[1] == "usr" and parts[2] in MERGED_DIRS:
        other = "/" + "/".join(parts[2:])
    elif len(parts) > 2 and parts[1] in MERGED_DIRS:
        other = "/usr" + real
    else:
        return (real,)
    same_place = os.path.realpath(os.path.dirname(other)) == os.path.dirname(real)
    return (real, other) if same_place else (real,)


def owned(names: Mapping[str, Sequence[str]], owners: Mapping, origin: Callable[..., Origin],
          manager: str) -> dict[str, Origin]:
    """For each file, `origin(package, name)` of the first of its names (names_of) that
    `owners` lists; a file none of whose names it lists has no `manager` package."""
    found = {}
    for file, candidates in names.items():
        path = next((n for n in candidates if n in owners), None)
        found[file] = origin(owners[path], path) if path else \
            Origin(None, f"no {manager} package owns {' or '.join(candidates)}")
    return found


class Query:
    """A package manager's command, started now, read later; in the C locale, whose
    messages the parsers know."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)
        self.error: str | None = None
        self.process: subprocess.Popen | None = None
        env = {**os.environ, "LC_ALL": "C"}
        try:
            self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, env=env)
        except OSError as error:
            self.error = f"{self.argv[0]} cannot be run ({error.strerror})"

    def result(self) -> tuple[int, str, str]:
        """(exit status, stdout, stderr); status -1 when it could not be run."""
        if self.process is None:
            return -1, "", self.error or ""
        out, err = self.process.communicate()
        return self.process.returncode, out.decode(errors="surrogateescape"), err.decode(errors="replace")

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def failed(query: Query, status: int, stderr: str) -> str:
    """A sentence for a query that failed, for the SBOM's notes."""
    why = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {status}"
    return f"{' '.join(query.argv[:2])} failed: {why}"
