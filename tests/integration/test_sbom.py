"""The SBOM bundle writes into every tree, on real trees: curl and its 31 libraries from
this machine's dpkg packages (each file's digest, and the package dpkg itself names for
the file it was copied from), strictly valid CycloneDX 1.6 that cyclonedx-python-lib reads,
byte-identical across runs and in the archive; a musl project from a build directory (no
package, --include, which file needs which); dpkg's answers on a database made for the
test (diversions, a package of the user's own); verify failing a tree changed after
bundling, by name."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tarfile
from pathlib import Path

import pytest
from cyclonedx.model.bom import Bom
from packageurl import PackageURL

from bundle_support import bundle, bundle_chain
from conftest import relinterp, run, sha256, unavailable
from sbom_support import SBOM, components, listed_sha256, prop, validate
from relinterp.sbom.dpkg import Database as Dpkg
from relinterp.sbom.purl import read_distribution

CURL = Path("/usr/bin/curl")


def dpkg_owner(path: str) -> tuple[str, str]:
    """(package, version) as `dpkg -S` and `dpkg-query -W` say, asked the way a user would:
    the path, else (merged /usr) the same path without /usr."""
    for name in (path, re.sub(r"^/usr(?=/(lib|bin|sbin|lib64)/)", "", path)):
        found = run(["dpkg", "-S", name], text=True)
        if found.returncode == 0:
            package = found.stdout.split(":")[0]
            version = run(["dpkg-query", "-W", "-f", "${Version}", package], text=True).stdout
            return package, version
    raise AssertionError(f"dpkg -S finds no package for {path}")


@pytest.fixture(scope="module")
def curl_tree(tmp_path_factory) -> Path:
    if not CURL.exists() or shutil.which("dpkg") is None:
        unavailable("the SBOM tests bundle Debian's curl (apt-get install curl)")
    out = tmp_path_factory.mktemp("curl") / "curl-tree"
    result = bundle(CURL, "-o", out)
    assert result.returncode == 0, result.stderr
    return out


def glibc_by_name(found: dict) -> set[str]:
    """The components glibc's by-name loads brought in."""
    return {name for name, component in found.items() if prop(component, "came-in") == "glibc-by-name"}


# ---------------------------------------------------------------- curl, from dpkg packages

def test_each_file_of_curls_tree_has_its_digest_and_the_package_dpkg_names(curl_tree):
    listing = run(["ldd", CURL], text=True).stdout  # what curl loads here: where each library was copied from
    copied = dict(re.findall(r"^\t(\S+) => (\S+) ", listing, re.MULTILINE))
    assert len(copied) == 31
    found = components(curl_tree)
    distribution = read_distribution()
    for name, path in [*copied.items(), ("curl", str(CURL))]:
        component = found["bin/curl" if name == "curl" else f"lib/{name}"]
        assert component["hashes"] == [{"alg": "SHA-256", "content": sha256(curl_tree / component["name"])}]
        source = os.path.realpath(path)
        assert prop(component, "source") == source
        package, version = dpkg_owner(source)
        purl = PackageURL.from_string(component["purl"])
        assert (purl.type, purl.namespace, purl.name, purl.version) == ("deb", distribution.id, package, version)
        assert purl.qualifiers["distro"] == f"{distribution.id}-{distribution.version_id}"
        assert component["version"] == version
    by_name = glibc_by_name(found)  # what glibc loads by name: libgcc_s.so.1, its NSS modules
    assert {"lib/libgcc_s.so.1", "lib/libnss_compat.so.2"} <= by_name
    assert len(found) == 33 + len(by_name)  # and the loader
    assert PackageURL.from_string(found["lib/ld-linux-x86-64.so.2"].get("purl")).name == "libc6"


def test_curls_sbom_is_strictly_valid_cyclonedx_1_6_and_a_consumer_reads_it(curl_tree):
    text = (curl_tree / SBOM).read_text()
    validate(text)
    bom = Bom.from_json(json.loads(text))
    assert bom.metadata.component.name == "curl-tree"
    assert [t.name for t in bom.metadata.tools.components] == ["relinterp"]
    assert len(bom.components) == 33 + len(glibc_by_name(components(curl_tree)))
    licensed = {c.name: {lic.id or lic.name for lic in c.licenses} for c in bom.components}
    assert "Zlib" in licensed["lib/libz.so.1"]  # zlib1g's DEP-5 copyright file


def test_dependencies_are_the_needed_entries_each_file_has(curl_tree):
    dependencies = {d["ref"]: set(d["dependsOn"]) for d in json.loads((curl_tree / SBOM).read_text())["dependencies"]}
    for name in ("bin/curl", "lib/libcurl.so.4", "lib/libssl.so.3"):
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+)\]", run(["readelf", "-d", curl_tree / name],
                                                                            text=True).stdout)
        expected = {f"file:lib/{n}" for n in needed}
        if name == "bin/curl":
            expected.add("file:lib/ld-linux-x86-64.so.2")  # its PT_INTERP, patched
        assert dependencies[f"file:{name}"] == expected, name
    loaded_by_name = {f"file:{name}" for name in glibc_by_name(components(curl_tree))}
    assert dependencies["tree"] == {"file:bin/curl"} | loaded_by_name  # nothing in the tree needs those


def test_two_runs_give_byte_identical_sboms(curl_tree, tmp_path):
    again = tmp_path / "again" / "curl-tree"
    assert bundle(CURL, "-o", again).returncode == 0
    assert (again / SBOM).read_bytes() == (curl_tree / SBOM).read_bytes()
    stamped = [tmp_path / f"stamped{n}" / "curl-tree" for n in (1, 2)]
    for out in stamped:
        assert bundle(CURL, "-o", out, env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}).returncode == 0
    assert (stamped[0] / SBOM).read_bytes() == (stamped[1] / SBOM).read_bytes()
    assert json.loads((stamped[0] / SBOM).read_text())["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"
    assert "timestamp" not in json.loads((curl_tree / SBOM).read_text())["metadata"]


def test_verify_fails_a_tree_whose_library_changed_after_bundling_and_names_it(curl_tree, tmp_path):
    tree = tmp_path / "curl-tree"
    shutil.copytree(curl_tree, tree, symlinks=True)
    assert relinterp("verify", tree).returncode == 0  # control: as bundled, it passes
    with open(tree / "lib/libssl.so.3", "ab") as library:
        library.write(b"\0")
    result = relinterp("verify", tree)
    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if ": FAIL " in line]
    assert failed == [f"{tree}: FAIL lib/libssl.so.3: sbom: changed since bundling: sha256 "
                      f"{sha256(tree / 'lib/libssl.so.3')}, {SBOM} lists {sha256(curl_tree / 'lib/libssl.so.3')}"]


# ---------------------------------------------------------------- a project of no package

@pytest.fixture
def chain_tree(project, tmp_path) -> Path:
    out = tmp_path / "chain-1.0"
    bundle_chain(project, out)
    return out


def test_files_of_no_package_say_so_and_each_says_how_it_came_in(chain_tree, project):
    found = components(chain_tree)
    assert {name: prop(c, "came-in") for name, c in found.items()} == {
        "bin/chain": "argument", "lib/libmid.so": "needed", "lib/libbase.so": "needed",
        "lib/libplugin.so": "include", "lib/ld-musl-x86_64.so.1": "interpreter"}
    mid = found["lib/libmid.so"]
    assert "purl" not in mid and prop(mid, "package") == "none"
    assert mid["description"] == f"not from a distribution package: no dpkg package owns {project['libmid.so']}"
    assert PackageURL.from_string(found["lib/ld-musl-x86_64.so.1"]["purl"]).name == "musl"
    chain = found["bin/chain"]
    assert chain["pedigree"]["ancestors"][0]["hashes"][0]["content"] == sha256(project["chain"])
    assert "patched by relinterp" in chain["pedigree"]["notes"] and "RUNPATH set to $ORIGIN/../lib" in \
        chain["pedigree"]["notes"]
    validate((chain_tree / SBOM).read_text())


def test_an_included_library_is_listed_as_included_with_its_digest_and_the_tree_verifies(chain_tree):
    validate((chain_tree / SBOM).read_text())
    plugin = components(chain_tree)["lib/libplugin.so"]
    assert (plugin["type"], prop(plugin, "came-in")) == ("library", "include")
    assert listed_sha256(plugin) == sha256(chain_tree / "lib/libplugin.so")
    verified = relinterp("verify", chain_tree)
    assert verified.returncode == 0, verified.stdout


def test_which_file_needs_which_in_a_musl_tree(chain_tree):
    dependencies = {d["ref"]: d["dependsOn"] for d in json.loads((chain_tree / SBOM).read_text())["dependencies"]}
    loader = "file:lib/ld-musl-x86_64.so.1"  # also libc.so, which musl's loader is
    assert dependencies["tree"] == ["file:bin/chain", "file:lib/libplugin.so"]
    assert dependencies["file:bin/chain"] == sorted([loader, "file:lib/libmid.so"])
    assert dependencies["file:lib/libmid.so"] == sorted([loader, "file:lib/libbase.so"])
    assert dependencies["file:lib/libplugin.so"] == [loader]


def test_the_archive_holds_the_same_sbom(project, tmp_path):
    out = tmp_path / "chain-1.0"
    bundle_chain(project, out, "--tar", tmp_path / "chain.tar.gz")
    with tarfile.open(tmp_path / "chain.tar.gz") as tar:
        assert tar.extractfile(f"chain-1.0/{SBOM}").read() == (out / SBOM).read_bytes()


def test_verify_names_files_missing_from_the_tree_and_files_the_sbom_does_not_list(chain_tree):
    (chain_tree / "lib/libplugin.so").unlink()
    (chain_tree / "lib/extra.so").write_bytes(b"added later")
    result = relinterp("verify", chain_tree)
    assert result.returncode == 1
    assert [line for line in result.stdout.splitlines() if ": FAIL " in line] == [
        f"{chain_tree}: FAIL lib/extra.so: sbom: not listed in {SBOM}",
        f"{chain_tree}: FAIL lib/libplugin.so: sbom: listed in {SBOM}, missing from the tree"]


def test_verify_fails_an_sbom_it_cannot_read(chain_tree):
    (chain_tree / SBOM).write_text("{ not json")
    result = relinterp("verify", chain_tree, "--json")
    assert result.returncode == 1
    findings = json.loads(result.stdout)["trees"][0]["findings"]
    assert [(f["path"], f["check"]) for f in findings] == [(SBOM, "sbom")]
    assert findings[0]["message"].startswith("not JSON")


# ---------------------------------------------------------------- --no-sbom, --sbom FILE

def test_no_sbom_writes_none_and_verify_notes_that_it_checked_against_none(project, tmp_path):
    out = tmp_path / "dist"
    result = bundle_chain(project, out, "--no-sbom", "--json")
    assert json.loads(result.stdout)["sbom"] is None
    assert not (out / SBOM).exists()
    checked = relinterp("verify", out)
    assert checked.returncode == 0, checked.stdout
    assert f"{out}: NOTE {SBOM}: sbom: this tree has no SBOM: its files were not checked against one (bundled " \
           "with --no-sbom, or by a relinterp that wrote none)" in checked.stdout.splitlines()


def test_a_copy_goes_where_sbom_says(project, tmp_path):
    out, copy = tmp_path / "dist", tmp_path / "release" / "app.cdx.json"
    copy.parent.mkdir()
    result = bundle_chain(project, out, "--sbom", copy)
    assert copy.read_bytes() == (out / SBOM).read_bytes()
    assert f"{copy}: a copy of it" in result.stdout.splitlines()


@pytest.mark.parametrize("args,complaint", [
    (("--sbom", "{out}/mine.json"), "inside the tree"),
    (("--sbom", "{tmp}/x.json", "--no-sbom"), "--sbom and --no-sbom contradict each other"),
])
def test_contradicting_sbom_options_are_usage_errors(project, tmp_path, args, complaint):
    out = tmp_path / "dist"
    result = bundle(project["chain"], "-o", out, "--library-path", project.build,
                    *(a.format(out=out, tmp=tmp_path) for a in args))
    assert result.returncode == 2 and complaint in result.stderr, result.stderr
    assert os.listdir(tmp_path) == []


def test_a_copy_to_stdout_is_the_sbom_and_the_report_goes_to_stderr(project, tmp_path):
    out = tmp_path / "dist"
    result = run([sys.executable, "-m", "relinterp", "bundle", project["chain"], "-o", out, "--library-path",
                  project.build, "--sbom", "-"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == (out / SBOM).read_bytes()
    assert f"{out}: 1 program, 2 libraries and the loader (new tree)" in result.stderr.decode().splitlines()
    both = bundle(project["chain"], "-o", tmp_path / "other", "--sbom", "-", "--tar", "/dev/stdout")
    assert both.returncode == 2 and "--tar /dev/stdout and --sbom - would both write to stdout" in both.stderr


def test_a_copy_onto_a_directory_is_refused_before_anything_is_written(project, tmp_path):
    (tmp_path / "sboms").mkdir()
    result = bundle(project["chain"], "-o", tmp_path / "dist", "--library-path", project.build, "--sbom",
                    tmp_path / "sboms")
    assert result.returncode == 1
    assert result.stderr.startswith(f"{tmp_path}/sboms: is a directory: the SBOM goes to a file, a FIFO or a "
                                    "character device, so nothing was written")
    assert os.listdir(tmp_path) == ["sboms"]


def test_a_copy_that_cannot_be_written_leaves_no_tree(project, tmp_path):
    out = tmp_path / "dist"
    result = bundle(project["chain"], "-o", out, "--library-path", project.build, "--sbom",
                    tmp_path / "no-such-dir" / "app.json")
    assert result.returncode == 1
    assert result.stderr.startswith(f"{tmp_path}/no-such-dir/app.json: cannot write (No such file or directory)")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- dpkg on a database made for the test

def dpkg_database(root: Path, packages: dict[str, tuple[str, list[str]]], diversions: str = "") -> Path:
    """A dpkg database (status, file lists, diversions) holding `packages`:
    name -> (version, files); dpkg-query reads it through DPKG_ADMINDIR."""
    (root / "info").mkdir(parents=True)
    (root / "updates").mkdir()
    (root / "info/format").write_text("1\n")
    stanzas = []
    for name, (version, files) in packages.items():
        stanzas.append(f"Package: {name}\nStatus: install ok installed\nMaintainer: n <n@example.org>\n"
                       f"Architecture: amd64\nVersion: {version}\nDescription: x\n")
        (root / "info" / f"{name}.list").write_text("".join(f"{f}\n" for f in files))
    (root / "status").write_text("\n".join(stanzas))
    (root / "diversions").write_text(diversions)
    return root


def test_dpkg_diversions_name_the_package_whose_file_is_there(tmp_path, monkeypatch):
    monkeypatch.setenv("DPKG_ADMINDIR", str(dpkg_database(tmp_path / "db", {
        "fake-orig": ("1.0-1", ["/usr/bin/fake"]), "fake-tools": ("0.9~rc1", ["/usr/bin/fake"]),
        "other": ("2", ["/usr/bin/other"])},
        diversions="/usr/bin/fake\n/usr/bin/fake.distrib\nfake-tools\n/usr/bin/other\n/usr/bin/other.orig\n:\n")))
    files = ["/usr/bin/fake", "/usr/bin/fake.distrib", "/usr/bin/other", "/usr/bin/other.orig", "/usr/bin/none"]
    origins = Dpkg(read_distribution()).look_up(files).origins()
    assert [origins[f].package and origins[f].package.name for f in files] == \
        ["fake-tools", "fake-orig", None, "other", None]
    assert origins["/usr/bin/other"].note.startswith("/usr/bin/other is diverted by the administrator")


def test_a_users_own_package_names_the_files_it_installed(project, tmp_path):
    database = dpkg_database(tmp_path / "db", {"libmid1": ("1.0-1", [str(project["libmid.so"])])})
    out = tmp_path / "dist"
    bundle_chain(project, out, env={**os.environ, "DPKG_ADMINDIR": str(database)})
    found = components(out)
    assert PackageURL.from_string(found["lib/libmid.so"]["purl"]).to_dict()["name"] == "libmid1"
    assert found["lib/libmid.so"]["version"] == "1.0-1"
    assert prop(found["lib/libmid.so"], "license") == \
        "none declared: /usr/share/doc/libmid1/copyright cannot be read (No such file or directory)"
    assert prop(found["lib/libbase.so"], "package") == "none"


@pytest.mark.parametrize("status,database", [
    ("Package: broken\nStatus: install\n", "dpkg on"),
    (None, "none: no dpkg, apk or rpm database on this system"),
])
def test_without_a_working_package_database_the_tree_is_made_and_says_so(project, tmp_path, status, database):
    admindir = tmp_path / "db"
    admindir.mkdir()
    if status is not None:
        (admindir / "status").write_text(status)
    out = tmp_path / "dist"
    result = bundle_chain(project, out, "--json", env={**os.environ, "DPKG_ADMINDIR": str(admindir)})
    sbom = json.loads(result.stdout)["sbom"]
    assert sbom["database"].startswith(database) and sbom["packaged"] == 0
    if status is not None:
        assert components(out)["bin/chain"]["description"].startswith(
            "not from a distribution package: package unknown: dpkg-query -S failed: ")
    validate((out / SBOM).read_text())


def test_a_cross_built_trees_files_name_the_cross_package_they_came_from(tmp_path):
    """--sysroot: the loader and libc come from Debian's cross package, and the SBOM says so."""
    source = tmp_path / "hello.c"
    source.write_text('#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n')
    compiled = run(["aarch64-linux-gnu-gcc", "-o", tmp_path / "hello", source], text=True)
    assert compiled.returncode == 0, compiled.stderr
    out = tmp_path / "dist"
    assert bundle(tmp_path / "hello", "-o", out, "--sysroot", "/usr/aarch64-linux-gnu").returncode == 0
    found = components(out)
    libc = found["lib/libc.so.6"]
    assert prop(libc, "source") == os.path.realpath("/usr/aarch64-linux-gnu/lib/libc.so.6")
    package, version = dpkg_owner(prop(libc, "source"))
    assert (PackageURL.from_string(libc["purl"]).name, libc["version"]) == (package, version)
    assert package == "libc6-arm64-cross"
    validate((out / SBOM).read_text())
