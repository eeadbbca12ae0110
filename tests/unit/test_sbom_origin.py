"""Where a file came from, as each package manager says it: what dpkg-query, rpm and apk's
database hold, recorded from the real tools, and how each answer becomes an origin (a
package and its purl, or a sentence saying why there is none).  dpkg itself is run, on
this machine and on a database made for the test, in tests/integration/test_sbom.py."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from relinterp.sbom import apk, rpm
from relinterp.sbom.dpkg import literal, owner, parse_installed, parse_search
from relinterp.sbom.origin import names_of
from relinterp.sbom.purl import Distribution

DEBIAN = Distribution("debian", "12", "bookworm", "Debian GNU/Linux 12 (bookworm)")
FEDORA = Distribution("fedora", "41", None, "Fedora Linux 41")
ALPINE = Distribution("alpine", "3.20.3", None, "Alpine Linux v3.20")

# dpkg-query -S, dpkg 1.21.22: this machine's curl and sh, and a database with a package
# diverting a file it ships (fake-tools) and a diversion the administrator made.
DPKG_SEARCH = """\
libssl3:amd64: /usr/lib/x86_64-linux-gnu/libssl.so.3
zlib1g:amd64: /lib/x86_64-linux-gnu/libz.so.1.2.13
libc6:amd64, libc6:i386: /usr/share/doc/libc6/copyright
diversion by dash from: /bin/sh
diversion by dash to: /bin/sh.distrib
dash: /bin/sh
diversion by fake-tools from: /usr/bin/fake
diversion by fake-tools to: /usr/bin/fake.distrib
fake-orig, fake-tools: /usr/bin/fake
local diversion from: /usr/bin/other
local diversion to: /usr/bin/other.orig
other-tools: /usr/bin/other
"""
DPKG_INSTALLED = "libssl3:amd64\t3.0.17-1~deb12u2\tamd64\nfake-tools\t0.9~rc1\tamd64\nconfig-only\t\t\n"

# rpm -qf --qf FORMAT, rpm 4.18.0, with libfake (epoch 1) and fake-tools installed; the
# third file exists and no package owns it, the fourth does not exist.
RPM_STDOUT = """\
libfake\t1\t2.3\t4.fc41\tx86_64\tMIT AND BSD-3-Clause\t/usr/lib64/libfake.so.1
libfake\t1\t2.3\t4.fc41\tx86_64\tMIT AND BSD-3-Clause\t/usr/lib64/libfake.so.1.2.3
libfake\t1\t2.3\t4.fc41\tx86_64\tMIT AND BSD-3-Clause\t/usr/share/doc/libfake/README
fake-tools\t0\t0.9\t1.fc41\tx86_64\tGPL-2.0-or-later\t/usr/bin/fake
file /opt/mine/libmine.so is not owned by any package
"""
RPM_STDERR = "error: file /opt/nothing/libnone.so: No such file or directory\n"

# /lib/apk/db/installed, apk-tools 2 (fields as apk writes them; checksums shortened).
APK_INSTALLED = """\
C:Q1Deb0jNytkrjPW4N/eKLZ43BwOlw=
P:musl
V:1.2.5-r9
A:x86_64
S:383152
I:622592
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
p:so:libc.musl-x86_64.so.1=1
F:opt/apk-test/lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q12adwqQOjo9dFl+VJD2Ecd901vhE=
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q17yJ3JFNypA4mxhJJr0ou6CzsJVI=

C:Q1p6+TFwS8JjOv5vGMb1JbqvAuEA4=
P:libssl3
V:3.3.2-r1
A:x86_64
L:Apache-2.0
F:opt/apk-test/usr/lib
R:libssl.so.3
Z:Q1BD6GBbLEs+Jx+JSBkn+BtWJPMA4=

P:nolicense
V:1.0-r0
A:noarch
F:opt/apk-test/share
R:data.txt
"""


# ---------------------------------------------------------------- dpkg

def test_dpkg_search_output_gives_owners_and_diversions():
    search = parse_search(DPKG_SEARCH)
    assert search.owners["/usr/share/doc/libc6/copyright"] == ("libc6:amd64", "libc6:i386")
    assert search.owners["/lib/x86_64-linux-gnu/libz.so.1.2.13"] == ("zlib1g:amd64",)
    assert search.diverted_from == {"/bin/sh": "dash", "/usr/bin/fake": "fake-tools", "/usr/bin/other": None}
    assert search.diverted_to["/usr/bin/fake.distrib"] == ("/usr/bin/fake", "fake-tools")
    assert search.diverted_to["/usr/bin/other.orig"] == ("/usr/bin/other", None)


@pytest.mark.parametrize("path,expected", [
    ("/usr/lib/x86_64-linux-gnu/libssl.so.3", "libssl3:amd64"),
    ("/bin/sh", "dash"),  # diverted by the package that ships the file there
    ("/usr/bin/fake", "fake-tools"),  # the diverter, not the package whose file was moved aside
    ("/usr/bin/fake.distrib", "fake-orig"),  # ... which owns it where it went
    ("/usr/share/doc/libc6/copyright", "libc6:amd64"),
])
def test_the_owner_of_a_path_is_the_package_whose_file_is_there(path, expected):
    assert owner(path, parse_search(DPKG_SEARCH)) == (expected, "")


def test_a_local_diversion_is_no_packages_file():
    package, why = owner("/usr/bin/other", parse_search(DPKG_SEARCH))
    assert package is None
    assert why == "/usr/bin/other is diverted by the administrator (a local diversion): the file there is no package's"
    assert owner("/usr/bin/unlisted", parse_search(DPKG_SEARCH)) == (None, "")


def test_dpkg_installed_packages_need_a_version():
    assert parse_installed(DPKG_INSTALLED) == {"libssl3:amd64": ("3.0.17-1~deb12u2", "amd64"),
                                               "fake-tools": ("0.9~rc1", "amd64")}


@pytest.mark.parametrize("path,pattern", [
    ("/usr/lib/libx.so", "/usr/lib/libx.so"),
    ("/opt/a[1]/b*c?d\\e", "/opt/a\\[1]/b\\*c\\?d\\\\e"),
])
def test_a_path_is_a_dpkg_pattern_matching_only_itself(path, pattern):
    assert literal(path) == pattern


# ---------------------------------------------------------------- rpm

def fake_command(directory: Path, name: str, stdout: str, stderr: str = "", status: int = 0) -> Path:
    """A stand-in for a package manager's command: prints what the real one printed and
    records its arguments, one per line."""
    directory.mkdir(exist_ok=True)
    (directory / "stdout").write_text(stdout)
    (directory / "stderr").write_text(stderr)
    script = directory / name
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> "{directory}/argv"\n'
                      f'cat "{directory}/stdout"; cat "{directory}/stderr" >&2; exit {status}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return directory


def rpm_origins(tmp_path, monkeypatch, files, **output):
    bin_dir = fake_command(tmp_path / "bin", "rpm", **output)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    origins = rpm.Database(FEDORA).look_up(files).origins()
    return origins, (bin_dir / "argv").read_text().splitlines()


def test_rpm_is_asked_once_for_every_file_and_its_answer_names_the_packages(tmp_path, monkeypatch):
    files = ["/usr/lib64/libfake.so.1.2.3", "/opt/mine/libmine.so", "/opt/nothing/libnone.so"]
    origins, argv = rpm_origins(tmp_path, monkeypatch, files, stdout=RPM_STDOUT, stderr=RPM_STDERR, status=2)
    assert argv[:4] == ["-qf", "--qf", rpm.FORMAT, "--"]
    assert set(files) <= set(argv[4:])  # one query, with every file (and its other names)
    package = origins["/usr/lib64/libfake.so.1.2.3"].package
    assert package.purl == "pkg:rpm/fedora/libfake@2.3-4.fc41?arch=x86_64&distro=fedora-41&epoch=1"
    assert (package.name, package.version, package.licenses) == ("libfake-2.3-4.fc41.x86_64", "2.3-4.fc41",
                                                                 ("MIT AND BSD-3-Clause",))
    assert origins["/opt/mine/libmine.so"] == (None, "no rpm package owns /opt/mine/libmine.so")
    assert origins["/opt/nothing/libnone.so"].package is None


def test_a_failing_rpm_leaves_every_package_unknown_and_says_why(tmp_path, monkeypatch):
    origins, _ = rpm_origins(tmp_path, monkeypatch, ["/usr/bin/fake"], stdout="",
                             stderr="error: cannot open Packages database in /var/lib/rpm\n", status=1)
    assert origins["/usr/bin/fake"] == (None, "package unknown: rpm -qf failed: error: cannot open Packages "
                                              "database in /var/lib/rpm")


def test_rpm_without_epoch_has_no_epoch_qualifier(tmp_path, monkeypatch):
    origins, _ = rpm_origins(tmp_path, monkeypatch, ["/usr/bin/fake"], stdout=RPM_STDOUT)
    assert origins["/usr/bin/fake"].package.purl == "pkg:rpm/fedora/fake-tools@0.9-1.fc41?arch=x86_64&distro=fedora-41"


# ---------------------------------------------------------------- apk

def test_apk_database_gives_each_files_package(tmp_path):
    installed = tmp_path / "installed"
    installed.write_text(APK_INSTALLED)
    files = ["/opt/apk-test/lib/ld-musl-x86_64.so.1", "/opt/apk-test/usr/lib/libssl.so.3",
             "/opt/apk-test/share/data.txt", "/opt/apk-test/lib/libmine.so"]
    origins = apk.Database(ALPINE, installed=str(installed)).look_up(files).origins()
    musl = origins["/opt/apk-test/lib/ld-musl-x86_64.so.1"].package
    assert musl.purl == "pkg:apk/alpine/musl@1.2.5-r9?arch=x86_64&distro=alpine-3.20.3"
    assert (musl.name, musl.licenses, musl.owned_as) == ("musl-1.2.5-r9", ("MIT",),
                                                         "/opt/apk-test/lib/ld-musl-x86_64.so.1")
    assert origins["/opt/apk-test/usr/lib/libssl.so.3"].package.licenses == ("Apache-2.0",)
    nolicense = origins["/opt/apk-test/share/data.txt"].package
    assert (nolicense.licenses, nolicense.license_note) == ((), "none declared: the package has no L: field")
    assert origins["/opt/apk-test/lib/libmine.so"] == (None, "no apk package owns /opt/apk-test/lib/libmine.so")


def test_an_unreadable_apk_database_leaves_packages_unknown(tmp_path):
    origins = apk.Database(ALPINE, installed=str(tmp_path / "missing")).look_up(["/usr/bin/x"]).origins()
    assert origins["/usr/bin/x"].note == (f"package unknown: {tmp_path}/missing cannot be read "
                                          "(No such file or directory)")


# ---------------------------------------------------------------- merged /usr

def test_a_file_is_asked_for_by_its_real_path_and_its_merged_usr_name():
    """Where /lib is a link to usr/lib (merged /usr), a package may know a file under
    either name; where it is not, they are two files and only the real path counts.
    (Callers pass real paths: the bytes copied are the real file's.)"""
    merged = os.path.realpath("/lib") == "/usr/lib"
    names = names_of("/usr/lib/x86_64-linux-gnu/libnothing.so.1")
    if merged:
        assert names == ("/usr/lib/x86_64-linux-gnu/libnothing.so.1", "/lib/x86_64-linux-gnu/libnothing.so.1")
        assert names_of(os.path.realpath("/lib/x86_64-linux-gnu/libnothing.so.1")) == names
    else:
        assert names == ("/usr/lib/x86_64-linux-gnu/libnothing.so.1",)
    assert names_of("/opt/app/lib/libx.so") == ("/opt/app/lib/libx.so",)
