"""Which loader a program of a tree starts with (relinterp verify): one its stub finds
among its candidates, inside the tree, or one embedded in the program itself."""

from __future__ import annotations

import os

from ..elf.linked import LinkedObject, read_linked_object
from ..loaders.sysroot import inside
from ..loaders.embedded import EMBEDDED
from ..loaders.family import other_libc
from ..loaders.rules import loader_family
from .findings import Finding, relative


def check_loader(program: LinkedObject, tree: str, report) -> LinkedObject | None:
    """The loader file the program will use, or None (with the reason among the findings)."""
    here = report.path
    if program.interp is None and not program.patched:
        return None  # a static program: no loader, no libraries
    if not program.patched:
        report.findings.append(Finding(here, "loader", f"not patched: the kernel loads its loader from "
                                                       f"PT_INTERP {program.interp}, outside the tree"))
        return None
    origin = os.path.dirname(os.path.realpath(program.path))
    chosen = None
    for candidate in program.model.patch.config.candidates:
        path = os.path.normpath(os.path.join(origin, candidate))
        if os.path.isabs(candidate) or not inside(path, tree):
            report.findings.append(Finding(here, "loader", f"loader candidate {candidate} is outside the tree"))
        elif not os.path.exists(path):
            report.findings.append(Finding(here, "loader", f"loader candidate {candidate} does not exist"))
        elif chosen is None:
            chosen = path
    if chosen is None:
        return None
    report.loader = relative(chosen, tree)
    loader = read_linked_object(chosen)
    if loader.elf_type != "ET_DYN" or loader.abi != program.abi:
        report.findings.append(Finding(here, "loader", f"{report.loader} is not a loader for {program.machine} "
                                                       f"({program.elfclass}-bit)"))
        return None
    report.family = loader_family(loader)
    if report.family is None:
        report.findings.append(Finding(here, "loader", f"{report.loader}: not a musl or glibc loader; only "
                                                       "their search rules are known"))
        return None
    linked_against = other_libc(program.interp, report.family)
    if linked_against is not None:
        report.findings.append(Finding(here, "loader", f"{report.loader} is a {report.family} loader, but the "
                                                       f"program is linked against {linked_against} (PT_INTERP "
                                                       f"{program.interp}): it would not start"))
        return None
    return loader


def embedded_loader(path: str, report) -> LinkedObject | None:
    """The loader the program carries (copied to `path`), or None with the reason."""
    loader = read_linked_object(path)
    report.loader = EMBEDDED
    report.family = loader_family(loader)
    if report.family is None:
        report.findings.append(Finding(report.path, "loader", "the embedded loader is not a musl or glibc loader; "
                                                              "only their search rules are known"))
        return None
    return loader
