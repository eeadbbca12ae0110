"""The search lists an ELF file carries (DT_RUNPATH, DT_RPATH): how they are split and
what their `$ORIGIN` entries name, for everyone who reads them (the stub's derived
candidates, musl's and glibc's searches, bundle, verify).

`$ORIGIN` and `${ORIGIN}` stand for the directory of the object.  Entries are separated
by ':' (musl also takes a newline); empty entries name nothing.  Any other `$` token
($LIB, $PLATFORM) has a value only the loader knows, on the machine it runs on.
"""

from __future__ import annotations

import re

RUNPATH, RPATH = "DT_RUNPATH", "DT_RPATH"  # the entries, named as --json names them
ORIGIN = re.compile(r"\$(ORIGIN|\{ORIGIN\})")
ORIGIN_TOKENS = ("$ORIGIN", "${ORIGIN}")
SEPARATORS = re.compile(r"[:\n]")


def split_list(text: str) -> list[str]:
    return [entry for entry in SEPARATORS.split(text) if entry]


def other_tokens(text: str) -> bool:
    """`text` holds a `$` token other than $ORIGIN."""
    return "$" in ORIGIN.sub("", text)


def expand_origin(text: str, origin: str) -> str:
    return ORIGIN.sub(lambda _: origin, text)


def origin_relative(entry: str) -> str | None:
    """The directory an entry names relative to $ORIGIN ('' for $ORIGIN itself), or None
    when it is not relative to $ORIGIN or uses tokens only the loader can expand."""
    for token in ORIGIN_TOKENS:
        if entry == token or entry.startswith(token + "/"):
            rest = entry[len(token):].strip("/")
            return None if "$" in rest else rest
    return None


def search_list(runpath: str | None, rpath: str | None) -> tuple[str | None, str | None]:
    """(tag, list) the loader takes an object's list from: RUNPATH wins over RPATH when
    both exist (musl: decode_dyn; glibc: RPATH is ignored when RUNPATH is present)."""
    if runpath is not None:
        return RUNPATH, runpath
    return (RPATH, rpath) if rpath is not None else (None, None)
