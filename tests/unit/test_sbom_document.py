"""The SBOM document without a bundle: purls as the purl specification's reference
implementation (packageurl-python) builds them, os-release, declared licenses and the
SPDX identifiers they equal, Debian's DEP-5 copyright format, a tree described and its
document written (strictly valid CycloneDX 1.6, the same bytes for the same tree), and
read back as verify reads it."""

from __future__ import annotations

import hashlib
import json
from importlib import resources

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from relinterp.sbom.dep5 import copyright_licenses, package_licenses
from relinterp.sbom.describe import describe_tree
from relinterp.sbom.inventory import ARGUMENT, INCLUDE, INTERPRETER, LIBRARY, LOADER, NEEDED, PROGRAM, Inventory, \
    ShippedFile, Tool
from relinterp.sbom.licenses import DEP5_NAMES, GNU_VERSIONS, SPDX_IDS, declared_all, spdx_id
from relinterp.sbom.listing import SbomError, read_listing
from relinterp.sbom.model import to_json
from relinterp.sbom.origin import Origin, Package
from relinterp.sbom.purl import package_url, read_distribution


# ---------------------------------------------------------------- purls

@pytest.mark.parametrize("kind,namespace,name,version,qualifiers,expected", [
    ("deb", "debian", "libssl3", "3.0.15-1~deb12u1", {"arch": "amd64", "distro": "debian-12"},
     "pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12"),
    ("deb", "debian", "zlib1g", "1:1.2.13.dfsg-1", {"arch": "amd64", "distro": "debian-12"},
     "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12"),
    ("deb", "Ubuntu", "libstdc++6", "14.2.0-4ubuntu2~24.04", {"distro": "ubuntu-24.04", "arch": "amd64"},
     "pkg:deb/ubuntu/libstdc%2B%2B6@14.2.0-4ubuntu2~24.04?arch=amd64&distro=ubuntu-24.04"),
    ("rpm", "fedora", "NetworkManager-libnm", "1.48.10-1.fc41", {"arch": "x86_64", "epoch": "1", "distro": ""},
     "pkg:rpm/fedora/NetworkManager-libnm@1.48.10-1.fc41?arch=x86_64&epoch=1"),
    ("apk", "alpine", "musl", "1.2.5-r9", {"arch": "x86_64", "distro": "alpine-3.20.3"},
     "pkg:apk/alpine/musl@1.2.5-r9?arch=x86_64&distro=alpine-3.20.3"),
])
def test_purls_are_what_the_reference_implementation_builds(kind, namespace, name, version, qualifiers, expected):
    ours = package_url(kind, namespace, name, version, qualifiers)
    assert ours == expected
    parsed = PackageURL.from_string(ours)
    assert (parsed.name, parsed.version) == ((name.lower() if kind != "rpm" else name), version)
    assert parsed.to_string() == ours


@pytest.mark.parametrize("text,vendor,qualifier", [
    ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n',
     "debian", "debian-12"),
    ("ID=ubuntu\nID_LIKE=debian\nVERSION_ID='24.04'\n", "ubuntu", "ubuntu-24.04"),
    ("ID=debian\nVERSION_CODENAME=trixie\n# a comment\n", "debian", "debian-trixie"),
    ('ID="opensuse-leap"\nVERSION_ID="15.6"\n', "opensuse", "opensuse-leap-15.6"),
])
def test_os_release_names_the_vendor_and_the_distro(tmp_path, text, vendor, qualifier):
    (tmp_path / "os-release").write_text(text)
    distribution = read_distribution((str(tmp_path / "missing"), str(tmp_path / "os-release")))
    assert (distribution.vendor, distribution.qualifier) == (vendor, qualifier)
    assert read_distribution((str(tmp_path / "missing"),)) is None


# ---------------------------------------------------------------- licenses

@pytest.mark.parametrize("declared,identifier", [
    ("GPL-2+", "GPL-2.0-or-later"), ("GPL-2", "GPL-2.0-only"), ("LGPL-2.1+", "LGPL-2.1-or-later"),
    ("GPL-3.0+", "GPL-3.0-or-later"), ("GPL-2.0-only", "GPL-2.0-only"), ("Expat", "MIT"),
    ("BSD-3-clause", "BSD-3-Clause"), ("zlib", "Zlib"), ("Apache-2.0", "Apache-2.0"), ("curl", "curl"),
    ("GPL-2+ with OpenSSL exception", None), ("BSD-3-clause or GPL-2", None), ("public-domain", None),
    ("GPL-4", None), ("LGPL-2.2", None), ("GPL", None),
])
def test_a_declared_license_is_an_spdx_identifier_only_where_it_means_exactly_that(declared, identifier):
    assert spdx_id(declared) == identifier


def test_every_identifier_the_mapping_gives_is_on_the_spdx_list_cyclonedx_validates_with():
    listed = set(json.loads(resources.files("cyclonedx.schema._res").joinpath("spdx.SNAPSHOT.schema.json")
                            .read_text())["enum"])
    given = set(SPDX_IDS.values()) | set(DEP5_NAMES.values()) | {
        f"{family}-{version}-{suffix}" for family, versions in GNU_VERSIONS.items() for version in versions
        for suffix in ("only", "or-later")}
    assert given - listed == set()


def test_two_names_for_one_license_are_listed_once():
    licenses = declared_all(("BSD-3-Clause", "public-domain", "BSD-3-clause", "public-domain"))
    assert [(lic.id, lic.name) for lic in licenses] == [("BSD-3-Clause", None), (None, "public-domain")]


DEP5 = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: example
License: GPL-2+

Files: *
Copyright: 2020 Someone
License: Expat

Files: lib/compat/*
Copyright: 1999 Someone Else
License: BSD-3-clause or GPL-2
Comment: kept as declared
 License: not a field, a continuation line

Files: debian/*
License: GPL-2+

License: Expat
 Permission is hereby granted ...
"""


def test_dep5_licenses_are_those_of_the_header_and_each_files_paragraph():
    assert copyright_licenses(DEP5) == ("GPL-2+", "Expat", "BSD-3-clause or GPL-2")
    assert copyright_licenses("This package was debianized by someone.\n\nLicense: GPL\n") is None


@pytest.mark.parametrize("text,note", [
    (None, "none declared: {doc}/pkg/copyright cannot be read (No such file or directory)"),
    ("Upstream-Name: x\nLicense: MIT\n", "not machine-readable: {doc}/pkg/copyright is not in the DEP-5 format"),
    ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n", "none declared: "
                                                                                     "{doc}/pkg/copyright names no license"),
])
def test_a_package_without_machine_readable_licenses_says_why(tmp_path, text, note):
    if text is not None:
        (tmp_path / "pkg").mkdir()
        (tmp_path / "pkg/copyright").write_text(text)
    declared = package_licenses("pkg", doc_dir=str(tmp_path))
    assert declared == ((), note.format(doc=tmp_path))


# ---------------------------------------------------------------- a tree described

SSL = Package("dpkg", "libssl3:amd64", "3.0.17-1~deb12u2",
              "pkg:deb/debian/libssl3@3.0.17-1~deb12u2?arch=amd64&distro=debian-12", ("Apache-2.0", "GPL-1+"), None,
              "/usr/lib/x86_64-linux-gnu/libssl.so.3")
LIBC = Package("dpkg", "libc6:amd64", "2.36-9+deb12u10", "pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64&distro=debian-12",
               (), "not machine-readable: /usr/share/doc/libc6/copyright is not in the DEP-5 format",
               "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")


@pytest.fixture
def tree(tmp_path):
    """A tree with a program, a library under two names, a dlopen()ed plugin and a loader;
    and the inventory bundle would give of it."""
    root = tmp_path / "app-1.0"
    for path, data in (("bin/app", b"app, patched"), ("lib/libssl.so.3", b"ssl"), ("lib/libplugin.so", b"plugin"),
                       ("lib/ld-linux-x86-64.so.2", b"loader")):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    (root / "lib/libssl.so").symlink_to("libssl.so.3")
    (tmp_path / "build").mkdir()
    (tmp_path / "build/app").write_bytes(b"app")
    inventory = Inventory("app-1.0", (
        ShippedFile("bin/app", PROGRAM, ARGUMENT, str(tmp_path / "build/app"), changes=("patched",)),
        ShippedFile("lib/libssl.so.3", LIBRARY, NEEDED, "/usr/lib/x86_64-linux-gnu/libssl.so.3", ("lib/libssl.so",)),
        ShippedFile("lib/libplugin.so", LIBRARY, INCLUDE, str(tmp_path / "build/libplugin.so")),
        ShippedFile("lib/ld-linux-x86-64.so.2", LOADER, INTERPRETER, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
    ), needs=(("bin/app", "lib/libssl.so.3"), ("bin/app", "lib/ld-linux-x86-64.so.2"),
              ("lib/libssl.so.3", "lib/ld-linux-x86-64.so.2"), ("bin/app", "lib/nowhere.so")))
    origins = {"/usr/lib/x86_64-linux-gnu/libssl.so.3": Origin(SSL),
               "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2": Origin(LIBC),
               str(tmp_path / "build/app"): Origin(None, f"no dpkg package owns {tmp_path}/build/app")}
    return root, inventory, origins


def document_of(tree, timestamp=None) -> bytes:
    root, inventory, origins = tree
    tool = Tool("relinterp", "0.1.0", (("stub x86_64", "ab" * 32),))
    return to_json(describe_tree(inventory, str(root), tool, origins, "dpkg on Debian GNU/Linux 12 (bookworm)",
                                 timestamp=timestamp))


def test_a_described_tree_is_strictly_valid_cyclonedx_1_6(tree):
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(document_of(tree).decode())
    assert errors is None, str(errors)[:2000]


def test_each_file_is_one_component_with_its_digest_origin_and_places(tree):
    document = json.loads(document_of(tree))
    components = {c["name"]: c for c in document["components"]}
    assert sorted(components) == ["bin/app", "lib/ld-linux-x86-64.so.2", "lib/libplugin.so", "lib/libssl.so.3"]
    ssl = components["lib/libssl.so.3"]
    assert ssl["hashes"] == [{"alg": "SHA-256", "content": hashlib.sha256(b"ssl").hexdigest()}]
    assert (ssl["purl"], ssl["version"]) == (SSL.purl, SSL.version)
    assert ssl["licenses"] == [{"license": {"id": "Apache-2.0", "acknowledgement": "declared"}},
                               {"license": {"id": "GPL-1.0-or-later", "acknowledgement": "declared"}}]
    assert ssl["evidence"]["occurrences"] == [{"location": "lib/libssl.so.3"}, {"location": "lib/libssl.so"}]
    assert {"name": "relinterp:came-in", "value": "needed"} in ssl["properties"]
    loader = components["lib/ld-linux-x86-64.so.2"]
    assert {"name": "relinterp:license", "value": LIBC.license_note} in loader["properties"]
    assert "licenses" not in loader


def test_a_file_of_no_package_says_so_and_a_changed_one_names_what_it_was_made_from(tree, tmp_path):
    components = {c["name"]: c for c in json.loads(document_of(tree))["components"]}
    app = components["bin/app"]
    assert "purl" not in app and "version" not in app
    assert app["description"] == f"not from a distribution package: no dpkg package owns {tmp_path}/build/app"
    assert {"name": "relinterp:package", "value": "none"} in app["properties"]
    assert app["pedigree"] == {"ancestors": [{"type": "application", "name": f"{tmp_path}/build/app",
                                              "hashes": [{"alg": "SHA-256",
                                                          "content": hashlib.sha256(b"app").hexdigest()}]}],
                               "notes": "patched"}
    assert "pedigree" not in components["lib/libssl.so.3"]  # copied as it is: its own digest is the source's
    plugin = components["lib/libplugin.so"]
    assert plugin["description"] == "not from a distribution package: no package database was asked"


def test_dependencies_say_which_file_needs_which_and_the_tree_holds_what_nothing_needs(tree):
    dependencies = {d["ref"]: d["dependsOn"] for d in json.loads(document_of(tree))["dependencies"]}
    assert dependencies == {
        "tree": ["file:bin/app", "file:lib/libplugin.so"],
        "file:bin/app": ["file:lib/ld-linux-x86-64.so.2", "file:lib/libssl.so.3"],  # not the file outside it
        "file:lib/libssl.so.3": ["file:lib/ld-linux-x86-64.so.2"],
        "file:lib/libplugin.so": [],
        "file:lib/ld-linux-x86-64.so.2": [],
    }


def test_the_same_tree_gives_the_same_bytes_and_a_serial_number_from_its_content(tree):
    first, second = document_of(tree), document_of(tree)
    assert first == second
    assert "timestamp" not in json.loads(first)["metadata"]
    stamped = json.loads(document_of(tree, timestamp="2023-11-14T22:13:20Z"))
    assert stamped["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"
    assert stamped["serialNumber"] != json.loads(first)["serialNumber"]  # another document, another serial
    (tree[0] / "lib/libplugin.so").write_bytes(b"plugin, rebuilt")
    assert json.loads(document_of(tree))["serialNumber"] != json.loads(first)["serialNumber"]


# ---------------------------------------------------------------- read back

def test_a_document_read_back_lists_every_place_with_its_digest(tree, tmp_path):
    (tmp_path / "sbom.json").write_bytes(document_of(tree))
    listed = read_listing(str(tmp_path / "sbom.json"))
    assert sorted(listed) == ["bin/app", "lib/ld-linux-x86-64.so.2", "lib/libplugin.so", "lib/libssl.so",
                              "lib/libssl.so.3"]
    assert listed["lib/libssl.so"] == listed["lib/libssl.so.3"]


@pytest.mark.parametrize("content,complaint", [
    (b"\x00\x01 not json", "not JSON"),
    (b'["CycloneDX"]', "not a CycloneDX document"),
    (b'{"bomFormat": "SPDX"}', "not a CycloneDX document"),
    (b'{"bomFormat": "CycloneDX", "components": {"a": 1}}', "malformed: components is not a list"),
])
def test_what_is_not_an_sbom_is_refused_by_name(tmp_path, content, complaint):
    (tmp_path / "sbom.json").write_bytes(content)
    with pytest.raises(SbomError) as refused:
        read_listing(str(tmp_path / "sbom.json"))
    assert str(refused.value).startswith(complaint)


def test_a_hostile_sbom_is_refused_without_a_wait_or_a_traceback(tmp_path, monkeypatch):
    import os

    from relinterp.sbom import listing

    os.mkfifo(tmp_path / "fifo.json")  # open() would wait for a writer
    with pytest.raises(SbomError, match=r"^cannot be read \(not a regular file\)$"):
        read_listing(str(tmp_path / "fifo.json"))
    (tmp_path / "deep.json").write_text("[" * 200000 + "]" * 200000)
    with pytest.raises(SbomError, match="nested too deeply"):
        read_listing(str(tmp_path / "deep.json"))
    (tmp_path / "big.json").write_text('{"bomFormat": "CycloneDX", "components": []}')
    monkeypatch.setattr(listing, "MAX_BYTES", 16)
    with pytest.raises(SbomError, match="^larger than 0 MiB: not read$"):
        read_listing(str(tmp_path / "big.json"))


def test_components_of_other_shapes_list_nothing(tmp_path):
    (tmp_path / "sbom.json").write_text(json.dumps({"bomFormat": "CycloneDX", "components": [
        3, {"name": "x"}, {"evidence": {"occurrences": [{"location": 7}, "y"]}},
        {"evidence": {"occurrences": [{"location": "bin/x"}]}, "hashes": [{"alg": "MD5", "content": "0"}]}]}))
    assert read_listing(str(tmp_path / "sbom.json")) == {"bin/x": None}


# ---------------------------------------------------------------- digests

def test_files_hashed_in_the_thread_give_their_digests_and_an_unreadable_one_its_error(tmp_path):
    from relinterp.sbom.digests import Digests

    (tmp_path / "a").write_bytes(b"a" * (3 << 20))  # more than one chunk
    digests = Digests()
    digests.add(str(tmp_path / "a"))
    digests.add(str(tmp_path / "missing"))
    assert digests.of(str(tmp_path / "a")) == hashlib.sha256(b"a" * (3 << 20)).hexdigest()
    with pytest.raises(FileNotFoundError):
        digests.of(str(tmp_path / "missing"))
    (tmp_path / "b").write_bytes(b"b")
    assert digests.of(str(tmp_path / "b")) == hashlib.sha256(b"b").hexdigest()  # never queued: hashed here


def test_cancelled_digests_are_not_computed(tmp_path):
    from relinterp.sbom.digests import Digests

    digests = Digests()
    digests.cancelled = True
    digests.add(str(tmp_path / "missing"))
    digests.finish(cancel=True)
    assert digests.known == {} and digests.failed == {}
