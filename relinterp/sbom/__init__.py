"""The software bill of materials of a release tree: a CycloneDX 1.6 document naming every
file, its digest, how it came into the tree and the distribution package it came from.

    model       the CycloneDX parts written, and the one writer of their JSON
    inventory   what a tree holds, as bundle (or any other maker of trees) describes it
    describe    an inventory, digests and package origins -> the document
    listing     a document read back: the files it lists and their digests (for verify)
    origin      the package database interface; dpkg, rpm, apk behind it
    licenses    declared licenses, and the SPDX identifiers they equal
"""

# Where every tree keeps its SBOM: at the top, named as CycloneDX recommends for JSON
# (https://cyclonedx.org/specification/overview/: "*.cdx.json"), which scanners look for.
SBOM_NAME = "sbom.cdx.json"
# bundle's record of the paths it made in a tree (relinterp.bundle.record).  Like the SBOM
# itself, it describes the tree rather than being part of what the tree ships: the SBOM
# lists neither, and verify's check of a tree against its SBOM passes over both.
RECORD_NAME = ".relinterp-bundle.json"
ABOUT_THE_TREE = frozenset({SBOM_NAME, RECORD_NAME})
