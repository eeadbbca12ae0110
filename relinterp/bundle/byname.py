"""What glibc itself loads by name, with dlopen, for the programs of a glibc tree:

- `libgcc_s.so.1`, the unwinder, for pthread_exit(), pthread_cancel() and backtrace()
  (without it pthread_exit() aborts: "libgcc_s.so.1 must be installed for pthread_exit
  to work", and backtrace() finds no frame);
- the NSS modules of the shipped libc.so.6's own build (libnss_files, libnss_compat,
  libnss_dns, libnss_hesiod, ...: the `libnss_*.so.2` beside it that define or use its
  private interfaces, GLIBC_PRIVATE), for the services /etc/nsswitch.conf names.  A module of another build
  (the target's) fails to load when it needs a GLIBC_PRIVATE symbol this libc.so.6 does
  not have, and the lookup then finds nothing, without a word.

Both are found through the program's search path, which names LIB_DIR: shipped there,
they win over the target's.  libgcc_s.so.1 is searched as the loader would search it,
and left out when the build machine has none.  Modules of other services (systemd, sss,
ldap) are left to the target: they come with those services.
"""

from __future__ import annotations

import glob
import os

from ..elf.linked import read_linked_object
from ..errors import RelinterpError
from ..loaders.closure import Closure, LoaderRules, Node
from ..loaders.glibc import PRIVATE
from .additions import GLIBC_BY_NAME, SHARED_OBJECT, Addition

LIBC = "libc.so.6"
UNWINDER = "libgcc_s.so.1"
NSS_MODULES = "libnss_*.so.2"


def glibc_by_name(closure: Closure, rules: LoaderRules) -> list[Addition]:
    """The files glibc loads by name for the program of `closure` (its libc.so.6 decides
    which NSS modules), as additions for LIB_DIR."""
    found = [path for path in [_search(UNWINDER, closure, rules)] if path]
    libc = next((obj for obj in closure.objects if obj.soname == LIBC), None)
    if libc is not None:
        found += _own_nss_modules(os.path.dirname(os.path.realpath(libc.path)))
    return [Addition(path, SHARED_OBJECT, GLIBC_BY_NAME) for path in found]


def _own_nss_modules(directory: str) -> list[str]:
    modules = []
    for path in sorted(glob.glob(os.path.join(glob.escape(directory), NSS_MODULES))):
        try:
            module = read_linked_object(path)
            private = PRIVATE in module.version_defs or any(PRIVATE in v for _, v in module.version_needs)
        except RelinterpError:
            continue  # not a module this libc.so.6 could load either
        if private:
            modules.append(path)
    return modules


def _search(name: str, closure: Closure, rules: LoaderRules) -> str | None:
    """Where the loader finds `name` when the program's libc dlopen()s it (in the
    sysroot, for programs of another machine)."""
    needer = rules.dlopen_needer(Node(closure.program, None, kernel_mapped=True))
    for where, candidate in rules.candidates(name, needer):
        found = rules.sysroot.resolve(candidate) if candidate else None
        if found and os.path.isfile(found) and rules.accepts(found, needer):
            return found if rules.sysroot.admits(found, where) else None
    return None
