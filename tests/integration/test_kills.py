"""relinterp's own processes under kill -9, SIGTERM and SIGINT: a run of `patch -r -j 2`
or of `bundle` killed at random moments leaves no process of its own behind (found by
the session each run was started in, never by name) and no temporary file; the next
bundle into the same DIR removes what killed ones left, and never a live run's."""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bundle_support import bundle
from conftest import relinterp
from relinterp.batch import LEFTOVER

pytestmark = pytest.mark.usefixtures("musl_gcc")
KILLS = 50
PROGRAMS_IN_TREE = 8
PADDING = 1 << 20  # each program's bytes: work enough for kills to land in it


def session_members(session: int) -> list[int]:
    """The live processes of a session (the 6th field of /proc/PID/stat, after the
    command).  A zombie has ended: reaping it is up to whoever it was given to."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(entry))
    return found


def left_after(session: int, seconds: float = 30) -> list[int]:
    """The session's processes still there after up to `seconds` (each process that
    outlives its parent is given that long to notice)."""
    deadline = time.monotonic() + seconds
    while (members := session_members(session)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return members


def started(argv: list, **kwargs) -> subprocess.Popen:
    """argv in a session of its own, which nothing else is in."""
    return subprocess.Popen([os.fspath(a) for a in argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, **kwargs)


def duration(argv: list) -> float:
    began = time.monotonic()
    assert started(argv).wait() == 0, argv
    return time.monotonic() - began


def killed_at(argv: list, moment: float, signum: int = signal.SIGKILL) -> int:
    """Run argv, send its first process `signum` after `moment` seconds; its session."""
    process = started(argv)
    time.sleep(moment)
    process.send_signal(signum)
    process.wait()
    return process.pid


def digests(tree: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(tree.iterdir()) if p.is_file()}


@pytest.fixture
def programs_tree(programs, tmp_path) -> Path:
    """Programs enough for two workers to be busy, each padded to PADDING bytes."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for n in range(PROGRAMS_IN_TREE):
        copy = tree / f"probe{n}"
        shutil.copy2(programs["probe"], copy)
        with open(copy, "ab") as padded:
            padded.truncate(PADDING)
    for loader in ("a", "b"):  # the --loader-rel the runs give exists, so patch has nothing to warn of
        (tree / loader).mkdir()
        (tree / loader / "ld.so").write_bytes(b"")
    return tree


def test_kill_9_of_patch_j2_at_random_moments_leaves_no_process_and_no_temporary_file(programs_tree):
    originals = digests(programs_tree)
    patch = [sys.executable, "-m", "relinterp", "patch", "-r", "-j", "2", programs_tree, "--loader-rel"]
    longest = duration([*patch, "a/ld.so"])
    moments = random.Random(20)
    for kill in range(KILLS):
        session = killed_at([*patch, "ab"[kill % 2] + "/ld.so"], moments.uniform(0, longest))
        assert left_after(session) == [], f"kill {kill}"
    assert [p.name for p in programs_tree.iterdir() if LEFTOVER.match(p.name)] == []
    restored = relinterp("restore", "-r", programs_tree)  # every file is whole: one version or the other
    assert restored.returncode == 0, restored.stderr
    assert digests(programs_tree) == originals


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_patch_j2_and_its_workers_and_leaves_no_temporary_file(programs_tree, signum):
    patch = [sys.executable, "-m", "relinterp", "patch", "-r", "-j", "2", programs_tree, "--loader-rel"]
    moments = random.Random(signum)
    for kill in range(10):
        process = subprocess.Popen([*map(str, patch), "ab"[kill % 2] + "/ld.so"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, start_new_session=True)
        while len(session_members(process.pid)) < 3 and process.poll() is None:
            time.sleep(0.005)  # until its two workers are there
        time.sleep(moments.uniform(0, 0.1))
        process.send_signal(signum)
        errors = process.stderr.read()
        assert process.wait() in (0, -signum), errors  # done before the signal, or died of it, saying nothing
        assert errors == b""
        assert left_after(process.pid) == []
    assert [p.name for p in programs_tree.iterdir() if LEFTOVER.match(p.name)] == []


def test_kill_9_of_bundle_at_random_moments_leaves_no_process_and_the_next_bundle_no_staging(project, tmp_path):
    out = tmp_path / "dist"
    command = [sys.executable, "-m", "relinterp", "bundle", project["chain"], "-o", out, "--library-path",
               project.build, "--include", project["libplugin.so"], "--tar", tmp_path / "dist.tar.gz"]
    longest = duration(command)
    moments = random.Random(21)
    staged = re.compile(r"\.dist(\.tar\.gz)?\.\w{8}\.relinterp")
    abandoned = 0  # kills that left a staging tree or a temporary archive (each next run removes them)
    for kill in range(KILLS):
        session = killed_at(command, moments.uniform(0, longest))
        assert left_after(session) == [], f"kill {kill}"
        abandoned += any(staged.fullmatch(name) for name in os.listdir(tmp_path))
    assert abandoned > 0  # the kills did land while a tree was staged
    assert started(command).wait() == 0
    assert sorted(os.listdir(tmp_path)) == ["dist", "dist.tar.gz"]
    assert relinterp("verify", out).returncode == 0


def test_a_bundle_removes_a_killed_runs_staging_but_not_a_live_runs(project, tmp_path):
    from relinterp.bundle.staging import discard_tree, make_staging_dir

    out = tmp_path / "dist"
    abandoned = tmp_path / ".dist.abcd1234.relinterp"  # as a killed run leaves it: unlocked
    (abandoned / "bin").mkdir(parents=True)
    (tmp_path / ".dist.tar.gz.wxyz5678.relinterp").write_bytes(b"half an archive")
    live = make_staging_dir(str(out))  # a run in progress: this process holds its lock
    try:
        result = bundle(project["chain"], "-o", out, "--library-path", project.build, "--include",
                        project["libplugin.so"], "--tar", tmp_path / "dist.tar.gz")
        assert result.returncode == 0, result.stderr
        assert sorted(os.listdir(tmp_path)) == sorted(["dist", "dist.tar.gz", os.path.basename(live)])
    finally:
        discard_tree(live)


def test_without_rename_exchange_a_kill_between_the_renames_leaves_the_old_tree_aside(project, tmp_path):
    """Where the file system cannot swap directories, DIR is missing between two renames:
    a run killed there leaves the old tree aside and the new one staged, each under a
    staging name, which the next run removes."""
    out = tmp_path / "dist"
    assert bundle(project["chain"], "-o", out, "--library-path", project.build).returncode == 0
    old = sorted(os.listdir(out / "lib"))
    child = os.fork()
    if child == 0:  # a bundle without RENAME_EXCHANGE, killed right after the first rename
        try:
            from relinterp.bundle import staging
            from relinterp.bundle.assemble import build_bundle
            from relinterp.bundle.plan import BundleOptions, plan_bundle

            staging._exchange = lambda a, b: False
            rename = os.rename

            def rename_then_die(source, target):
                rename(source, target)
                os.kill(os.getpid(), signal.SIGKILL)

            os.rename = rename_then_die
            build_bundle(plan_bundle([str(project["chain"])], str(out), BundleOptions(
                library_path=(str(project.build),), include=(str(project["libplugin.so"]),))))
        finally:
            os._exit(1)
    _, status = os.waitpid(child, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    left = {name: sorted(os.listdir(tmp_path / name / "lib")) for name in os.listdir(tmp_path)}
    assert not out.exists() and all(re.fullmatch(r"\.dist\.\w{8}\.relinterp", name) for name in left)
    assert sorted(left.values()) == [old, sorted([*old, "libplugin.so"])]  # the old tree, the new one
    assert bundle(project["chain"], "-o", out, "--library-path", project.build).returncode == 0
    assert sorted(os.listdir(tmp_path)) == ["dist"]


def test_without_rename_exchange_a_bundle_still_replaces_the_tree(project, tmp_path, monkeypatch):
    from relinterp.bundle import staging
    from relinterp.bundle.assemble import build_bundle
    from relinterp.bundle.plan import BundleOptions, plan_bundle

    monkeypatch.setattr(staging, "_exchange", lambda a, b: False)
    out = tmp_path / "dist"
    for include in ((), (str(project["libplugin.so"]),)):
        build_bundle(plan_bundle([str(project["chain"])], str(out), BundleOptions(
            library_path=(str(project.build),), include=include)))
    assert sorted(os.listdir(tmp_path)) == ["dist"]
    assert "libplugin.so" in os.listdir(out / "lib")
