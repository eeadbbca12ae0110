"""Package URLs (https://github.com/package-url/purl-spec): the name a scanner looks a
package up by, e.g. pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12.

Built as the specification's "How to build a purl" says: each part percent-encoded except
letters, digits, `.-_~` and `:`; qualifiers with a value, keys lowercased, sorted.  The
types used here lowercase their namespace (the vendor), and deb and apk their name too.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import quote

LOWERCASE_NAME = frozenset({"deb", "apk"})
OS_RELEASE = ("/etc/os-release", "/usr/lib/os-release")  # os-release(5): the first that exists


def package_url(kind: str, namespace: str, name: str, version: str, qualifiers: dict[str, str]) -> str:
    kind = kind.lower()
    if kind in LOWERCASE_NAME:
        name = name.lower()
    url = f"pkg:{kind}/{_encode(namespace.lower())}/{_encode(name)}@{_encode(version)}"
    pairs = sorted(f"{key.lower()}={_encode(value)}" for key, value in qualifiers.items() if value)
    return url + ("?" + "&".join(pairs) if pairs else "")


def _encode(part: str) -> str:
    return quote(part, safe=":")


class Distribution(NamedTuple):
    """The system the packaged files come from, as os-release(5) names it."""

    id: str  # debian, ubuntu, fedora, alpine, ...: the purl's namespace
    version_id: str | None = None  # 12, 24.04, 41, 3.20.3
    codename: str | None = None  # bookworm: where there is no VERSION_ID (testing, unstable)
    pretty_name: str | None = None

    @property
    def vendor(self) -> str:
        """The purl namespace: the vendor (openSUSE's editions share one)."""
        return "opensuse" if self.id.startswith("opensuse") else self.id

    @property
    def qualifier(self) -> str:
        """The purl `distro` qualifier: ID-VERSION_ID, e.g. debian-12."""
        version = self.version_id or self.codename
        return f"{self.id}-{version}" if version else self.id


def read_distribution(candidates: tuple[str, ...] = OS_RELEASE) -> Distribution | None:
    for path in candidates:
        try:
            with open(path, encoding="utf-8", errors="replace") as stream:
                fields = _os_release_fields(stream.read())
        except OSError:
            continue
        if fields.get("ID"):
            return Distribution(fields["ID"].lower(), fields.get("VERSION_ID") or None,
                                fields.get("VERSION_CODENAME") or None, fields.get("PRETTY_NAME") or None)
    return None


def _os_release_fields(text: str) -> dict[str, str]:
    """KEY=value lines; values may be quoted as in a shell (os-release(5))."""
    import shlex

    fields = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            continue
        fields[key] = words[0] if words else ""
    return fields
