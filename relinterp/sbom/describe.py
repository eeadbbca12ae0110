"""A tree's SBOM: its Inventory, the digests of its files and their packages' origins,
made into one CycloneDX document.

The tree is the root component and relinterp the tool (with the sha256 of each stub it
appends to programs).  Each file is one component: its path in the tree (its name, and
with the symbolic links to it, the places it occurs), its SHA-256, how it came in, the
file it came from and, where a package database owns that file, the package's version,
purl and declared licenses; where none does, a sentence saying so.  A file whose bytes
were changed on the way in (a program patched, a search path set) has the file it came
from as its pedigree's ancestor, with that file's SHA-256; a file that holds another whole
(a program with its loader embedded) has it as a component of its own, described as a
file of the tree is, its package's included.  The dependencies say which file
needs which; the root depends on every file that nothing else in the tree needs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .digests import Digests
from .inventory import COMPONENT_TYPES, LOADER, Inventory, ShippedFile, Tool
from .licenses import declared_all
from .model import Bom, Component, Dependency, Property
from .origin import Origin

ROOT_REF = "tree"
PREFIX = "relinterp:"  # our property names (CycloneDX: namespaced, not registered)


def file_ref(path: str) -> str:
    return f"file:{path}"


def describe_tree(inventory: Inventory, tree: str, tool: Tool, origins: Mapping[str, Origin], database: str,
                  digests: Digests | None = None, timestamp: str | None = None) -> Bom:
    """`database`: which package database was asked, and on what system (a sentence);
    `digests`: where the files' digests are (being) computed."""
    digests = digests or Digests()
    files = sorted(inventory.files, key=lambda f: f.path)
    components = [_file_component(f, tree, origins, digests) for f in files]
    root = Component("application", inventory.name, bom_ref=ROOT_REF,
                     description="a release tree made by relinterp bundle")
    made_by = Component("application", tool.name, version=tool.version,
                        components=tuple(Component("file", name, sha256=digest) for name, digest in tool.parts))
    return Bom(root=root, tools=(made_by,), components=tuple(components),
               dependencies=_dependencies(inventory, [c.bom_ref for c in components]), timestamp=timestamp,
               properties=(Property(PREFIX + "package-database", database),))


def _file_component(item: ShippedFile, tree: str, origins: Mapping[str, Origin], digests: Digests) -> Component:
    origin = origins.get(item.source) if item.source else None
    package = origin.package if origin else None
    kind = COMPONENT_TYPES.get(item.kind, "file")
    properties = [Property(PREFIX + "came-in", item.came_in)]
    if item.source:
        properties.append(Property(PREFIX + "source", item.source))
    properties.append(Property(PREFIX + "package", package.name if package else "none"))
    if package and not package.licenses and package.license_note:
        properties.append(Property(PREFIX + "license", package.license_note))
    ancestors = ()
    if item.changes and item.source:
        ancestors = (Component(kind, item.source, sha256=digests.of(item.source),
                               version=package.version if package else None, purl=package.purl if package else None),)
    return Component(
        kind, item.path, bom_ref=file_ref(item.path), version=package.version if package else None,
        description=_statement(item.source, package, origin), sha256=digests.of(os.path.join(tree, item.path)),
        licenses=declared_all(package.licenses) if package else (), purl=package.purl if package else None,
        ancestors=ancestors, changes="; ".join(item.changes) or None, properties=tuple(properties),
        occurrences=(item.path, *sorted(item.links)),
        components=tuple(_part(part, origins.get(part), digests) for part in item.parts))


def _part(source: str, origin: Origin | None, digests: Digests) -> Component:
    """A file whose bytes are inside a file of the tree (a loader embedded in a program):
    no path of its own in the tree, so no occurrence."""
    package = origin.package if origin else None
    properties = (Property(PREFIX + "source", source),
                  Property(PREFIX + "package", package.name if package else "none"))
    return Component(COMPONENT_TYPES[LOADER], os.path.basename(source), version=package.version if package else None,
                     description=f"embedded in it: {_statement(source, package, origin)}",
                     sha256=digests.of(source), licenses=declared_all(package.licenses) if package else (),
                     purl=package.purl if package else None, properties=properties)


def _statement(source: str | None, package, origin: Origin | None) -> str:
    if package is not None:
        return f"{package.owned_as} of the {package.manager} package {package.name}"
    if source is None:
        return "not from a distribution package: made in the tree"
    return f"not from a distribution package: {origin.note if origin else 'no package database was asked'}"


def _dependencies(inventory: Inventory, refs: list[str]) -> tuple[Dependency, ...]:
    paths = {f.path for f in inventory.files}
    needs: dict[str, set[str]] = {ref: set() for ref in refs}
    needed = set()
    for path, other in inventory.needs:
        if path in paths and other in paths and path != other:
            needs[file_ref(path)].add(file_ref(other))
            needed.add(file_ref(other))
    top = sorted(file_ref(f.path) for f in inventory.files if file_ref(f.path) not in needed)
    return (Dependency(ROOT_REF, tuple(top)),
            *(Dependency(ref, tuple(sorted(needs[ref]))) for ref in sorted(needs)))
