"""What each file given a place in the tree is: a program (patched, if it has a loader), a
shared object (its needs resolved, its search path set), or data (copied as it is).

Programs named on the command line, and programs added, must be programs bundle can
patch; in an install prefix, an ELF file that is neither a program nor a shared object
(an object file, a core dump) is data like any other file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass

from ..elf.linked import LinkedObject, is_debug_only, is_elf, read_linked_object
from ..errors import ModifiedError, NotExecutableError, RelinterpError, UnsupportedError
from ..loaders.family import UNKNOWN, libc_family
from ..rewrite.patchable import check_patchable
from ..rewrite.stub import stub_for
from .additions import ARGUMENT, DATA as ADDED_DATA, SHARED_OBJECT
from .treefile import ALIAS, DATA, DIRECTORY, LIBRARY, PROGRAM
from .walk import DIRECTORY as DIRECTORY_ENTRY, FILE, LINK, StageEntry


@dataclass(frozen=True)
class Input:
    entry: StageEntry
    role: str  # PROGRAM, LIBRARY, DATA, ALIAS or DIRECTORY
    found_by: str
    object: LinkedObject | None = None  # PROGRAM, LIBRARY: the file as the loader sees it

    @property
    def dynamic(self) -> bool:
        """A program with a loader (to be patched), or a shared object."""
        return self.object is not None and (self.role == LIBRARY or self.object.interp is not None)


def read_inputs(placed: Iterable[tuple[StageEntry, str, str | None]], problems: list[RelinterpError]) -> list[Input]:
    """Each (entry, how it came in, the role it must have: an addition's role, or None
    for whatever it is) read as what it is; a problem for each that cannot be bundled."""
    inputs = []
    for entry, found_by, wanted in placed:
        if entry.kind == LINK:
            inputs.append(Input(entry, ALIAS, found_by))
        elif entry.kind == DIRECTORY_ENTRY:
            inputs.append(Input(entry, DIRECTORY, found_by))
        elif wanted == ADDED_DATA:
            inputs.append(Input(entry, DATA, found_by))
        elif wanted is not None or found_by == ARGUMENT:
            read = _read_wanted(entry, found_by, wanted, problems)
            if read is not None:
                inputs.append(read)
        else:
            read = _read_file(entry, found_by, problems)
            if read is not None:
                inputs.append(read)
    return inputs


def _read_wanted(entry: StageEntry, found_by: str, wanted: str | None, problems: list) -> Input | None:
    """A file that must be a program (named on the command line, or added as one) or a
    shared object (added as one)."""
    try:
        obj = read_linked_object(entry.source)
    except RelinterpError as error:
        problems.append(error)
        return None
    if wanted == SHARED_OBJECT:
        if obj.is_program or obj.elf_type != "ET_DYN" or not obj.has_dynamic:
            problems.append(NotExecutableError(entry.source, f"not a shared object (ELF type {obj.elf_type})"))
            return None
        return Input(entry, LIBRARY, found_by, obj)
    if not obj.is_program:
        problems.append(NotExecutableError(entry.source, f"not an executable (ELF type {obj.elf_type}, no PT_INTERP)"))
        return None
    return _program(entry, found_by, obj, problems)


def _read_file(entry: StageEntry, found_by: str, problems: list) -> Input | None:
    """A file of an install prefix: whatever it is."""
    if not is_elf(entry.source):
        return Input(entry, DATA, found_by)
    try:
        obj = read_linked_object(entry.source)
    except RelinterpError as error:
        if is_debug_only(entry.source):
            return Input(entry, DATA, found_by)
        problems.append(error)
        return None
    if obj.is_program:
        return _program(entry, found_by, obj, problems)
    if obj.elf_type == "ET_DYN" and obj.has_dynamic:
        return Input(entry, LIBRARY, found_by, obj)
    return Input(entry, DATA, found_by)


def _program(entry: StageEntry, found_by: str, obj: LinkedObject, problems: list) -> Input | None:
    path = entry.source
    if obj.patched and obj.interp is None:
        problems.append(ModifiedError(path, "patched, then changed (stripped?): bundle the original program"))
    elif obj.interp is not None and libc_family(obj.interp) == UNKNOWN:
        problems.append(UnsupportedError(path, f"not a musl or glibc program (PT_INTERP {obj.interp}): bundle "
                                               "knows the search rules of those two loaders only"))
    elif obj.interp is not None and entry.mode is not None and entry.mode & (stat.S_ISUID | stat.S_ISGID):
        problems.append(UnsupportedError(path, "setuid or setgid: the kernel starts it in secure mode, where it "
                                               "finds no loader relative to itself; ship it without those bits"))
    elif obj.interp is None or _patchable(obj, problems):
        return Input(entry, PROGRAM, found_by, obj)
    return None


def _patchable(obj: LinkedObject, problems: list) -> bool:
    """Whether relinterp can patch the program (its original): asked now, so that the
    refusal comes before anything is written, by the program's name."""
    model = obj.model.unpatched
    try:
        check_patchable(model, stub_for(model.machine, model.elfclass, model.little_endian))
    except RelinterpError as error:
        problems.append(error)
        return False
    return True


def entry_for(source: str, dest: str, keep_mode: bool = False, directory: bool = False) -> StageEntry:
    """A file (or directory) given its place by name: a program on the command line (mode
    0755), an addition (`keep_mode`: the permission bits of its file, without setuid and
    setgid)."""
    mode = stat.S_IMODE(os.stat(source).st_mode) & 0o777 if keep_mode else None
    return StageEntry(os.path.normpath(dest), DIRECTORY_ENTRY if directory else FILE, source, mode)
