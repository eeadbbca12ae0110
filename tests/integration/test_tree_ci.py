"""`bundle` and `verify` as a CI job uses them: JSON documents that match their shipped
schemas, a plan that writes nothing, quiet and verbose output, progress only where
someone watches, a choice of compression, and a sandbox problem told apart from a
program's failure."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
import tarfile
import tempfile

import pytest

from bundle_support import bundle, bundle_chain
from conftest import relinterp, run
from relinterp import __version__
from relinterp.errors import EXIT_NO_SANDBOX
from report_support import valid_document

pytestmark = pytest.mark.usefixtures("musl_gcc")


def chain_args(project, out, *extra):
    return (project["chain"], "-o", out, "--library-path", project.build, *extra)


def test_bundle_json_lists_every_file_and_matches_its_schema(project, tmp_path):
    result = bundle(*chain_args(project, tmp_path / "dist", "--json", "--tar", tmp_path / "dist.tar.xz"))
    assert result.returncode == 0, result.stderr
    document = valid_document(result.stdout, "bundle")
    assert (document["relinterp"], document["command"], document["dry_run"], document["exit_code"]) == \
        (__version__, "bundle", False, 0)
    files = {f["path"]: f for f in document["files"]}
    assert sorted(files) == ["bin/chain", "lib/ld-musl-x86_64.so.1", "lib/libbase.so", "lib/libmid.so"]
    assert files["bin/chain"]["loader"] == "../lib/ld-musl-x86_64.so.1"
    assert files["bin/chain"]["source"] == str(project["chain"])
    assert document["archive"] == {"path": str(tmp_path / "dist.tar.xz"), "compression": "xz:6", "entries": 9}
    assert document["sbom"]["path"] == f"{tmp_path}/dist/sbom.cdx.json" and document["sbom"]["files"] == 4


def test_bundle_refusal_as_json_lists_every_problem(project, tmp_path):
    result = bundle(tmp_path / "missing", project["libmid.so"], "-o", tmp_path / "dist", "--json")
    assert result.returncode == 1
    document = valid_document(result.stdout, "bundle")
    assert [e["path"] for e in document["errors"]] == [str(tmp_path / "missing"), str(project["libmid.so"])]
    assert document["errors"][1]["message"] in result.stderr.splitlines()
    assert not (tmp_path / "dist").exists()


def test_dry_run_prints_the_plan_and_writes_nothing(project, tmp_path):
    result = bundle(*chain_args(project, tmp_path / "dist", "--dry-run", "--tar", tmp_path / "dist.tar.gz"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"{tmp_path}/dist/lib/libmid.so <- {project['libmid.so']}" in lines
    assert lines[-2] == f"{tmp_path}/dist: 1 program, 2 libraries and the loader (would be a new tree; " \
                        "nothing written (--dry-run))"
    assert lines[-1] == f"{tmp_path}/dist.tar.gz: would be written (gzip:6)"
    assert sorted(os.listdir(tmp_path)) == []
    document = valid_document(bundle(*chain_args(project, tmp_path / "dist", "-n", "--json")).stdout, "bundle")
    assert document["dry_run"] and document["archive"] is None and len(document["files"]) == 4


def test_quiet_prints_nothing_and_verbose_lists_every_file(project, tmp_path):
    quiet = bundle(*chain_args(project, tmp_path / "quiet", "-q"))
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    normal = bundle(*chain_args(project, tmp_path / "normal"))
    assert normal.stdout.splitlines()[1:] == [f"{tmp_path}/normal: 1 program, 2 libraries and the loader (new tree)"]
    assert normal.stdout.splitlines()[0].startswith(f"{tmp_path}/normal/sbom.cdx.json: SBOM (CycloneDX 1.6) of 4 files")
    verbose = bundle(*chain_args(project, tmp_path / "verbose", "-v"))
    assert len(verbose.stdout.splitlines()) == 6


def test_paths_are_echoed_as_given(project, tmp_path):
    result = bundle(*chain_args(project, "dist", "--tar", "dist.tar.gz"), cwd=tmp_path)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("dist/sbom.cdx.json: SBOM (CycloneDX 1.6) of 4 files")
    assert lines[1:] == ["dist: 1 program, 2 libraries and the loader (new tree)", "dist.tar.gz: 9 entries (gzip:6)"]
    checked = relinterp("verify", "dist", cwd=tmp_path)
    assert checked.stdout.splitlines()[0].startswith("dist: bin/chain: loader lib/ld-musl-x86_64.so.1")


def test_progress_goes_to_a_terminal_and_to_a_pipe_only_when_asked(project, tmp_path):
    piped = bundle(*chain_args(project, tmp_path / "piped", "--tar", tmp_path / "piped.tar.gz"))
    assert "%" not in piped.stderr
    asked = bundle(*chain_args(project, tmp_path / "asked", "--tar", tmp_path / "asked.tar.gz", "--progress"))
    assert "copying: 100%" in asked.stderr and "archiving (gzip:6): 100%" in asked.stderr
    terminal = on_a_terminal([sys.executable, "-m", "relinterp", "bundle",
                              *map(str, chain_args(project, tmp_path / "tty", "--tar", tmp_path / "tty.tar.gz"))])
    assert "\rcopying: 100%" in terminal and "\rarchiving (gzip:6): 100%" in terminal


def on_a_terminal(argv) -> str:
    """What argv writes when its stdout and stderr are a terminal."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(argv, stdout=secondary, stderr=secondary, stdin=subprocess.DEVNULL)
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert process.wait(timeout=60) == 0, b"".join(chunks).decode(errors="replace")
    os.close(primary)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("compression,name,opener", [
    ("gzip:1", "t.tar.gz", "r:gz"), ("xz:0", "t.tar.xz", "r:xz"), ("none", "t.tar", "r:"),
])
def test_each_compression_gives_an_archive_tar_reads(project, tmp_path, compression, name, opener):
    archive = tmp_path / name
    assert bundle(*chain_args(project, tmp_path / "dist", "--tar", archive, "--compress", compression)).returncode == 0
    with tarfile.open(archive, opener) as tar:
        assert "dist/bin/chain" in tar.getnames()


def test_zstd_archive_is_reproducible(project, tmp_path):
    if shutil.which("zstd") is None:
        pytest.skip("the zstd command is needed (apt-get install zstd)")
    for n in (1, 2):
        assert bundle(*chain_args(project, tmp_path / "dist", "--tar", tmp_path / f"{n}.tar.zst")).returncode == 0
    assert (tmp_path / "1.tar.zst").read_bytes() == (tmp_path / "2.tar.zst").read_bytes()
    listing = run(["sh", "-c", f"zstd -dc {tmp_path}/1.tar.zst | tar t"], text=True)
    assert "dist/bin/chain" in listing.stdout.splitlines()


@pytest.mark.parametrize("args,complaint", [
    (("--compress", "gzip:10"), "the gzip level is 1 to 9"),
    (("--compress", "brotli"), "not one of gzip, xz, zstd, none"),
    (("--tar", "x.tar.xz", "--compress", "gzip"), "the name says xz, --compress says gzip"),
])
def test_bad_compression_is_a_usage_error(project, tmp_path, args, complaint):
    result = bundle(*chain_args(project, tmp_path / "dist", *(("--tar", "x.tar.gz") if "--tar" not in args else ()),
                                *args), cwd=tmp_path)
    assert result.returncode == 2 and complaint in result.stderr, result.stderr
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- verify's sandbox

@pytest.fixture
def tree(project, tmp_path):
    out = tmp_path / "dist"
    bundle_chain(project, out)
    return out


def test_no_sandbox_is_its_own_error_not_a_programs_failure(installed_wheel, project):
    """As a user who may create no user namespace (its own has user.max_user_namespaces
    0), neither sandbox can be made, and verify says so, exit status 4, running nothing."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root to become another user (setpriv)")
    shared = tempfile.mkdtemp(prefix="relinterp-unprivileged.")
    try:
        os.chmod(shared, 0o755)
        tree = f"{shared}/dist"
        bundle_chain(project, tree)
        no_namespaces = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "unshare", "--user",
                         "--map-root-user", "sh", "-c", 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"',
                         "sh", installed_wheel.relinterp, "verify", tree, "--run", "value"]
        result = run(no_namespaces, text=True, cwd="/")
        assert result.returncode == EXIT_NO_SANDBOX, result.stdout + result.stderr
        assert result.stdout == ""
        message = result.stderr.strip()
        assert message.startswith(f"{tree}: --run: cannot make an empty root here (bwrap: bwrap: Creating new "
                                  "namespace failed"), message
        assert "; unshare: relinterp: cannot make the empty root (unshare: No space left on device)): " in message
        assert "apt-get install bubblewrap" in message and "user namespaces" in message
        document = valid_document(run([*no_namespaces, "--json"], text=True, cwd="/").stdout, "verify")
        assert (document["exit_code"], document["errors"][0]["kind"]) == (EXIT_NO_SANDBOX, "sandbox-unavailable")
    finally:
        shutil.rmtree(shared)


@pytest.mark.parametrize("sandbox", ["bwrap", "unshare", "unshare+chroot"])
def test_verify_run_works_unprivileged(installed_wheel, project, sandbox):
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root to become another user (setpriv)")
    # A place the unprivileged user can read, as a CI runner's checkout would be.
    shared = tempfile.mkdtemp(prefix="relinterp-unprivileged.")
    try:
        os.chmod(shared, 0o755)
        bundle_chain(project, f"{shared}/dist")
        result = run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                      installed_wheel.relinterp, "verify", f"{shared}/dist", "--run", "value", "--sandbox", sandbox],
                     text=True, cwd="/")
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"{shared}/dist: bin/chain: ran /bundle/bin/chain value in an empty root: exit status 0" \
            in result.stdout.splitlines()
    finally:
        shutil.rmtree(shared)


# ---------------------------------------------------------------- one wording, paths as given

COMMANDS = [("patch",), ("inspect",), ("restore",), ("bundle", "-o", "out"), ("verify",)]


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_words_a_missing_file_alike_with_the_path_as_given(tmp_path, command):
    result = relinterp(command[0], "missing", *command[1:], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == "missing: cannot read (No such file or directory)"


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_words_a_directory_alike(tmp_path, command):
    (tmp_path / "empty").mkdir()
    result = relinterp(command[0], "empty", *command[1:], cwd=tmp_path)
    assert result.returncode in (1, 2)
    if command[0] == "verify":  # verify takes trees: a directory is what it checks
        assert result.stderr == "empty: no program in this tree\n"
    elif command[0] == "bundle":  # and bundle install prefixes
        assert result.stderr == "empty: no program in this install prefix: nothing to make relocatable\n" \
                                "out: nothing written (1 problem)\n"
    else:
        assert "empty: is a directory, not a file" in result.stderr
