"""Licenses as a package declares them, turned into SPDX identifiers only where the
declared name means exactly that license; anything else keeps its declared name.

Debian's machine-readable copyright format (DEP-5) has short names of its own: `Expat` is
SPDX's MIT, `GPL-2+` is GPL-2.0-or-later, `BSD-3-clause` is BSD-3-Clause.  A name with an
exception or a choice (`GPL-2+ with OpenSSL exception`, `BSD-3-clause or GPL-2`) is kept
as written: CycloneDX lists either identifiers and names or one SPDX expression, not both.
"""

from __future__ import annotations

import re

from .model import License

# Identifiers a declared name may equal, from the SPDX license list (compared without
# case); the tests check each against the list CycloneDX 1.6 validates with.
SPDX_IDS = {key.lower(): key for key in (
    "0BSD", "Apache-1.0", "Apache-1.1", "Apache-2.0", "Artistic-1.0", "Artistic-1.0-Perl", "Artistic-2.0",
    "BSD-1-Clause", "BSD-2-Clause", "BSD-3-Clause", "BSD-4-Clause", "BSL-1.0", "bzip2-1.0.6", "CC0-1.0",
    "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0", "CDDL-1.0", "curl", "EPL-1.0", "EPL-2.0", "FTL",
    "HPND", "ICU", "IJG", "ISC", "Libpng", "libpng-2.0", "MIT", "MIT-0", "MPL-1.1", "MPL-2.0", "NCSA", "OFL-1.1",
    "OLDAP-2.8", "OpenSSL", "PostgreSQL", "PSF-2.0", "Python-2.0", "Ruby", "Sleepycat", "Unicode-3.0",
    "Unicode-DFS-2016", "Unlicense", "W3C", "WTFPL", "X11", "Zlib", "zlib-acknowledgement", "ZPL-2.1",
)}
# DEP-5's own short names (copyright-format 1.0, "License specification") that are
# exactly one SPDX license.
DEP5_NAMES = {"expat": "MIT", "apache-2": "Apache-2.0", "mpl-2": "MPL-2.0", "cc0": "CC0-1.0",
              "psf-2": "PSF-2.0", "zope-2.1": "ZPL-2.1"}
# The GNU licenses, with the versions SPDX has an identifier for.
GNU_VERSIONS = {"GPL": ("1.0", "2.0", "3.0"), "LGPL": ("2.0", "2.1", "3.0"), "AGPL": ("1.0", "3.0"),
                "GFDL": ("1.1", "1.2", "1.3")}
GNU_NAME = re.compile(r"(A?GPL|LGPL|GFDL)-?v?(\d)(?:\.(\d))?(\+|-or-later|-only)?", re.IGNORECASE)


def spdx_id(name: str) -> str | None:
    """The SPDX identifier `name` stands for, or None where it is not exactly one."""
    name = name.strip()
    gnu = GNU_NAME.fullmatch(name)
    if gnu:
        family, version = gnu.group(1).upper(), f"{gnu.group(2)}.{gnu.group(3) or 0}"
        later = gnu.group(4) in ("+", "-or-later")
        return f"{family}-{version}-{'or-later' if later else 'only'}" if version in GNU_VERSIONS[family] else None
    key = name.lower()
    return DEP5_NAMES.get(key) or SPDX_IDS.get(key)


def declared(name: str) -> License:
    identifier = spdx_id(name)
    return License(id=identifier) if identifier else License(name=name.strip())


def declared_all(names: tuple[str, ...]) -> tuple[License, ...]:
    """One entry per license, in the order declared; two names for one license count once."""
    seen, licenses = set(), []
    for name in names:
        license = declared(name)
        if license not in seen:
            seen.add(license)
            licenses.append(license)
    return tuple(licenses)
