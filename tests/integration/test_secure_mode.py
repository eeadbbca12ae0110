"""Setuid and setgid programs (AT_SECURE): whoever can place files next to such a program
must not choose its loader, so only absolute candidates are tried, RELINTERP_LOADER is
ignored and there is no trace.  A real setuid-root copy of a patched program, started by
an unprivileged user where the system's musl loader is hidden."""

from __future__ import annotations

import os
import shutil
import stat

import pytest

from conftest import LOADER_REL, MUSL_LOADER, run_hidden
from discovery_support import NOBODY, as_nobody, env_with, patch, setuid_workspace

pytestmark = pytest.mark.usefixtures("namespace")
# The stub's words for AT_SECURE, or a uid or gid that differs from the effective one.
SECURE = "secure mode (setuid, setgid or file capabilities)"


@pytest.fixture
def workspace():
    directory = setuid_workspace()
    yield directory
    shutil.rmtree(directory)


@pytest.fixture
def dist(ship_program, workspace):
    """A tree an unprivileged user can reach; the program is patched, not yet setuid."""
    dist = ship_program("hello", patch=False, root=workspace / "dist")
    for path in (dist.root, dist.root / "bin", dist.root / "lib"):
        path.chmod(0o755)
    return dist


def make_setuid_root(app) -> None:
    os.chown(app, 0, 0)
    app.chmod(0o755 | stat.S_ISUID)


def test_setuid_program_tries_no_candidate_relative_to_itself(dist):
    patch(dist.app, "--loader-rel", LOADER_REL)
    assert run_hidden(as_nobody([dist.app])).stdout == "hello\n"  # control: not setuid yet
    make_setuid_root(dist.app)
    result = run_hidden(as_nobody([dist.app]))
    assert result.returncode == 127
    assert result.stderr == (f"{dist.app}: relinterp: no usable loader: $ORIGIN/{LOADER_REL} "
                             f"(not tried: relative to $ORIGIN in {SECURE})\n")


def test_setuid_program_uses_an_absolute_fallback_in_a_root_owned_directory(dist, workspace):
    system = workspace / "system-lib"
    system.mkdir()
    system.chmod(0o755)  # root-owned, writable by root only
    shutil.copy2(MUSL_LOADER, system / "ld-musl.so")
    patch(dist.app, "--loader-rel", LOADER_REL, "--loader", str(system / "ld-musl.so"))
    make_setuid_root(dist.app)
    result = run_hidden(as_nobody([dist.app]))
    assert (result.returncode, result.stdout, result.stderr) == (0, "hello\n", "")
    (system / "ld-musl.so").unlink()  # then the message names both, and why the first was skipped
    result = run_hidden(as_nobody([dist.app]))
    assert result.stderr == (f"{dist.app}: relinterp: no usable loader: $ORIGIN/{LOADER_REL} "
                             f"(not tried: relative to $ORIGIN in {SECURE}), "
                             f"{system}/ld-musl.so (No such file or directory)\n")


def test_setuid_program_ignores_relinterp_loader_and_debug(dist):
    patch(dist.app, "--loader-rel", LOADER_REL)
    make_setuid_root(dist.app)
    env = env_with(RELINTERP_LOADER=str(dist.loader), RELINTERP_DEBUG="1")
    result = run_hidden(as_nobody([dist.app]), env=env)
    assert result.returncode == 127
    assert result.stderr == (
        f"relinterp: RELINTERP_DEBUG ignored in {SECURE}\n"
        f"{dist.app}: relinterp: no usable loader: RELINTERP_LOADER={dist.loader} "
        f"(not tried: ignored in {SECURE}), "
        f"$ORIGIN/{LOADER_REL} (not tried: relative to $ORIGIN in {SECURE})\n")


def test_unreadable_candidate_is_skipped_with_its_reason(dist):
    # Not setuid: an ordinary user meets a loader only root may read.
    shutil.copy2(dist.loader, dist.root / "lib" / "private.so")
    (dist.root / "lib" / "private.so").chmod(0o600)
    patch(dist.app, "--loader-rel", "../lib/private.so", "--loader-rel", LOADER_REL)
    result = run_hidden(as_nobody(["sh", "-c", '"$0"; echo "uid $(id -u)"', dist.app]),
                        env=env_with(RELINTERP_DEBUG="1"))
    assert result.stdout == f"hello\nuid {NOBODY}\n", result.stderr
    assert (f"relinterp: candidate 1 of 2: $ORIGIN/../lib/private.so = {dist.root}/lib/private.so: "
            "Permission denied\n") in result.stderr
