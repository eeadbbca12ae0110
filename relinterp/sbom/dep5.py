"""The licenses a Debian package declares in its machine-readable copyright file
(/usr/share/doc/PACKAGE/copyright in the format DEP-5 defines:
https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/).

Only what is machine-readable is taken: a file without that format's `Format:` header is
free text, and its licenses are not guessed at.  The result is every license the file
names for the package's sources (the `License:` of each `Files:` paragraph, and of the
header); which of them apply to one built file the format does not say.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

DOC_DIR = "/usr/share/doc"
FORMAT_MARK = "copyright-format"  # in the URL of the Format: header, any of its spellings
PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")  # deb822: paragraphs are separated by blank lines
FIELD = re.compile(r"^(Format|Files|License):(.*)$", re.MULTILINE | re.IGNORECASE)


class DeclaredLicenses(NamedTuple):
    names: tuple[str, ...]  # as written in the file, first occurrence first
    note: str | None = None  # why there are none


def package_licenses(package: str, doc_dir: str = DOC_DIR) -> DeclaredLicenses:
    path = os.path.join(doc_dir, package, "copyright")
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            text = stream.read()
    except OSError as error:
        return DeclaredLicenses((), f"none declared: {path} cannot be read ({error.strerror})")
    names = copyright_licenses(text)
    if names is None:
        return DeclaredLicenses((), f"not machine-readable: {path} is not in the DEP-5 format")
    if not names:
        return DeclaredLicenses((), f"none declared: {path} names no license")
    return DeclaredLicenses(names)


def copyright_licenses(text: str) -> tuple[str, ...] | None:
    """The license names of a DEP-5 file, or None when the text is not one."""
    paragraphs = [p for p in PARAGRAPH_BREAK.split(text) if p.strip()]
    if not paragraphs or FORMAT_MARK not in _fields(paragraphs[0]).get("format", ""):
        return None
    names: list[str] = []
    for index, paragraph in enumerate(paragraphs):
        fields = _fields(paragraph)
        name = fields.get("license", "")
        if name and (index == 0 or "files" in fields) and name not in names:
            names.append(name)
    return tuple(names)


def _fields(paragraph: str) -> dict[str, str]:
    """The fields of one paragraph that matter here, each its first line (a continuation
    line starts with a space: it holds a license's text, not its name)."""
    fields: dict[str, str] = {}
    for field, value in FIELD.findall(paragraph):
        fields.setdefault(field.lower(), value.strip())
    return fields
