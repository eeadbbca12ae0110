"""The SBOM of the tree bundle builds (relinterp.sbom): the plan told as an Inventory, the
package database asked while the tree is copied, the document written into the staged tree
(so that it is in the tree and in its archive) and, with --sbom FILE, a copy beside.
"""

from __future__ import annotations

import functools
import os
from datetime import datetime, timezone
from typing import NamedTuple

from .. import __version__
from ..loaders.closure import FILE, LOADER
from ..loaders.sysroot import MAX_LINKS
from ..rewrite.stub import manifest, stub_for
from ..sbom import SBOM_NAME
from ..sbom.describe import describe_tree
from ..sbom.digests import Digests
from ..sbom.inventory import DATA, LIBRARY, LOADER as LOADER_KIND, PROGRAM, Inventory, ShippedFile, Tool
from ..sbom.model import to_json
from ..sbom.origin import Lookup, Origin, find_database
from ..sbom.purl import read_distribution
from . import staging as stage
from .plan import BundlePlan
from .treefile import ALIAS, DATA as DATA_ROLE, LIBRARY as LIBRARY_ROLE, LOADER_FILE, PROGRAM as PROGRAM_ROLE, TreeFile

KINDS = {PROGRAM_ROLE: PROGRAM, LIBRARY_ROLE: LIBRARY, LOADER_FILE: LOADER_KIND, DATA_ROLE: DATA}


class SbomSummary(NamedTuple):
    path: str  # where it is, inside the output tree
    copy: str | None  # --sbom FILE
    files: int | None = None  # None: not written (dry run)
    packaged: int | None = None  # files from a distribution package
    database: str | None = None  # which package database was asked, on what system


class OriginQuery:
    """The package database asked about the files a tree will hold, as soon as they are
    known: plan_bundle tells them (files_known) well before it is done, so that the
    database is read while bundle plans and copies."""

    def __init__(self) -> None:
        distribution = read_distribution()
        self.database = find_database(distribution)
        system = (distribution.pretty_name or distribution.qualifier) if distribution else "an unknown system"
        self.description = (f"{self.database.manager} on {system}" if self.database else
                            f"none: no dpkg, apk or rpm database on this system ({system})")
        self.files: set[str] = set()
        self.lookup: Lookup | None = None

    def start(self, files: list[str]) -> None:
        self.files = {os.path.realpath(f) for f in files}
        if self.database is not None and self.files:
            self.lookup = self.database.look_up(sorted(self.files))

    def origins(self, files: set[str]) -> dict[str, Origin]:
        """An origin for each of `files` (real paths): from the query started, and for any
        file it did not cover, one more."""
        if self.database is None:
            return {}
        found = self.lookup.origins() if self.lookup else {}
        missing = sorted(files - self.files)
        if missing:
            found.update(self.database.look_up(missing).origins())
        return found

    def close(self) -> None:
        if self.lookup is not None:
            self.lookup.close()


class PendingSbom:
    """The SBOM on its way: the package database asked (OriginQuery), each file hashed (in
    a thread) as soon as it is in its final form in the staged tree."""

    def __init__(self, plan: BundlePlan, staging: str, query: OriginQuery | None = None) -> None:
        self.inventory = plan_inventory(plan)
        self.staging, self.digests = staging, Digests()
        self.query = query or OriginQuery()
        if query is None:
            self.query.start([f.source for f in self.inventory.files if f.source])
        for item in self.inventory.files:
            if item.changes and item.source:
                self.digests.add(item.source)  # the pedigree's: the file it was made from
            for part in item.parts:
                self.digests.add(part)

    def copied(self, dest: str) -> None:
        """The file at `dest` in the tree is complete."""
        self.digests.add(os.path.join(self.staging, dest))

    def write(self, copy: str | None, file: str | None = None) -> SbomSummary:
        """The SBOM into the tree, and for --sbom `copy` into `file`, atomically, or (None)
        through to `copy` as it is (stdout, a FIFO: relinterp.bundle.staging.output_file)."""
        origins = self.query.origins({f.source for f in self.inventory.files if f.source} |
                                     {part for f in self.inventory.files for part in f.parts})
        bom = describe_tree(self.inventory, self.staging, relinterp_tool(), origins, self.query.description,
                            self.digests, _timestamp())
        document = to_json(bom)
        with open(os.path.join(self.staging, SBOM_NAME), "wb") as stream:
            stream.write(document)
        if copy is not None:
            stage.write_output(copy, file, lambda stream: stream.write(document))
        packaged = sum(1 for c in bom.components if c.purl)
        return SbomSummary(SBOM_NAME, copy, len(bom.components), packaged, self.query.description)

    def close(self) -> None:
        self.digests.finish(cancel=True)  # after write(), nothing is left; after a failure, nothing is needed
        self.query.close()


def relinterp_tool() -> Tool:
    stubs = manifest()["stubs"]
    return Tool("relinterp", __version__, tuple((f"stub {arch}", stubs[arch]["sha256"]) for arch in sorted(stubs)))


def plan_inventory(plan: BundlePlan) -> Inventory:
    realpath = functools.lru_cache(maxsize=None)(os.path.realpath)  # a closure names each file many times
    real = {realpath(f.source): f.dest for f in plan.files if f.copied}
    loader = next((f.dest for f in plan.files if f.role == LOADER_FILE), None)
    needs = set()
    for closure in plan.closures.values():
        if loader is not None:
            needs.add((real[realpath(closure.program.path)], loader))
        for r in closure.resolutions:
            if r.dlopen:
                continue  # --include: which program loads it, and when, only the program knows
            target = real.get(realpath(r.path)) if r.kind == FILE else loader if r.kind == LOADER else None
            source = real.get(realpath(r.needed_by))
            if target is not None and source is not None:
                needs.add((source, target))
    links: dict[str, list[str]] = {}
    aliases = {f.dest: f for f in plan.files if f.role == ALIAS}
    for alias in aliases.values():
        links.setdefault(_link_target(alias, aliases), []).append(alias.dest)
    files = tuple(_shipped(f, realpath(f.source), plan, links.get(f.dest, ())) for f in plan.files if f.copied)
    return Inventory(os.path.basename(os.path.abspath(plan.output)), files, tuple(sorted(needs)))


def _link_target(alias: TreeFile, aliases: dict[str, TreeFile]) -> str:
    """The path in the tree a symbolic link leads to, through the tree's other links
    (libfoo.so -> libfoo.so.1 -> libfoo.so.1.2.3): the file it is an occurrence of."""
    path = alias.dest
    for _ in range(MAX_LINKS):
        link = aliases.get(path)
        if link is None:
            break
        path = os.path.normpath(os.path.join(os.path.dirname(path), link.link))
    return path


def _shipped(item: TreeFile, source: str, plan: BundlePlan, links) -> ShippedFile:
    parts = (os.path.realpath(item.embed_loader),) if item.role == PROGRAM_ROLE and item.embed_loader else ()
    return ShippedFile(item.dest, KINDS[item.role], item.found_by, source, tuple(links), _changes(item, plan), parts)


def _changes(item: TreeFile, plan: BundlePlan) -> tuple[str, ...]:
    """What bundle changes in the file's bytes, in the words of its -v listing."""
    changes = []
    if item.search_path is not None:
        change = item.search_path
        changes.append(f"{change.tag.removeprefix('DT_')} set to {change.value}" if change.value
                       else "RPATH/RUNPATH removed")
    if item.role == PROGRAM_ROLE and (item.loader_rel is not None or item.embed_loader):
        program = plan.closures[item.source].program
        stub = stub_for(program.machine, program.elfclass, program.little_endian)
        loader = (f"loader $ORIGIN/{item.loader_rel}" if item.loader_rel is not None else
                  f"the loader {item.embed_loader} embedded (a component of this one)")
        changes.append(f"patched by relinterp: PT_INTERP removed, its stub for {stub.arch} appended "
                       f"(sha256 {stub.sha256}), {loader}")
    return tuple(changes)


def _timestamp() -> str | None:
    """SOURCE_DATE_EPOCH (reproducible-builds.org) as the document's time; else none."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "")
    if not value.isdigit():
        return None
    try:
        return datetime.fromtimestamp(int(value), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):  # beyond what a date can say
        return None
