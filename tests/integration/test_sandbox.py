"""`verify --run`'s empty root holds against the program in it: each guarantee listed in
docs/bundle-and-verify.md ("What the empty root guarantees") has a test here, where
tests/programs/hostile.c tries to break it under each sandbox, with relinterp run as
root and as an unprivileged user.  Where an attempt can succeed outside the sandbox, a
control shows that it does, so that the test could fail."""

from __future__ import annotations

import hashlib
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import relinterp, run
from report_support import valid_document
from sandbox_support import NOBODY, alive, descendants, escapes, pid_namespace, processes_in, program_lines
from relinterp.verify.sandbox import MAX_PROCESSES, SANDBOXES

pytestmark = pytest.mark.usefixtures("musl_gcc")


@pytest.fixture(params=SANDBOXES)
def sandbox(request) -> str:
    return request.param


def through_terminal(argv: list[str], timeout: float = 120) -> str:
    """Run argv with a new terminal as its controlling terminal and stdio, as a shell
    would; what the terminal showed (the line discipline echoes what is typed into it)."""
    pid, terminal = pty.fork()
    if pid == 0:
        os.chdir("/")
        os.execvp(argv[0], argv)
    shown, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([terminal], [], [], 1)[0]:
                try:
                    data = os.read(terminal, 4096)
                except OSError:  # EIO: the other side is closed
                    break
                if not data:
                    break
                shown += data
    finally:
        os.close(terminal)
        os.waitpid(pid, 0)
    return shown.decode(errors="replace")


def snapshot(tree: Path) -> dict[str, str]:
    return {os.path.relpath(os.path.join(d, f), tree): hashlib.sha256(Path(d, f).read_bytes()).hexdigest()
            for d, _, files in os.walk(tree) for f in files}


def test_the_program_runs_as_an_ordinary_user_with_no_capability_and_no_network(hostile_tree, verifier, sandbox):
    result = verifier.run(hostile_tree, "status", sandbox)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = program_lines(result)
    assert f"Uid:\t{NOBODY}\t{NOBODY}\t{NOBODY}\t{NOBODY}" in lines
    for capabilities in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert f"{capabilities}:\t0000000000000000" in lines
    assert "NoNewPrivs:\t1" in lines
    assert "network: Network unreachable" in lines


def test_the_program_cannot_create_or_read_a_file_outside_the_tree(hostile_tree, outside, verifier, sandbox):
    result = verifier.run(hostile_tree, f"escape {outside}", sandbox)
    assert result.returncode == 0, result.stdout + result.stderr
    assert escapes(result) == []
    assert 'chroot(".") after climbing: done' in program_lines(result)  # as root of a namespace of its own
    assert os.listdir(outside) == ["marker"]


def test_control_a_chroot_does_not_hold_the_same_program(hostile_tree, outside, tmp_path):
    root = tmp_path / "root"
    (root / "tmp").mkdir(parents=True)
    shutil.copy2(hostile_tree / "hostile", root / "hostile")
    result = run(["chroot", root, "/hostile", "escape", outside], text=True)
    assert f"ESCAPED {outside}/created-by-the-program: created" in result.stdout
    assert "ESCAPED /etc/shadow: read" in result.stdout.splitlines()


def test_the_program_cannot_open_a_kernel_setting_for_writing(hostile_tree, verifier, sandbox):
    result = verifier.run(hostile_tree, "procsys", sandbox)
    assert result.returncode == 0, result.stdout + result.stderr
    assert escapes(result) == []
    assert any(line.startswith("/proc/sys/kernel/core_pattern: ") for line in program_lines(result))


def test_control_as_root_outside_the_sandbox_a_kernel_setting_opens_for_writing(hostile_tree):
    result = run([hostile_tree / "hostile", "procsys"], text=True)  # opened, never written
    assert "ESCAPED /proc/sys/kernel/core_pattern: opened for writing" in result.stdout.splitlines()


def test_the_program_cannot_write_into_the_tree_or_make_it_writable(hostile_tree, verifier, sandbox):
    before = snapshot(hostile_tree)
    result = verifier.run(hostile_tree, "tree /bundle", sandbox)
    assert result.returncode == 0, result.stdout + result.stderr
    assert escapes(result) == []
    assert any(line.startswith("unmount it: ") for line in program_lines(result))  # it got that far
    assert snapshot(hostile_tree) == before


def test_control_bwrap_as_root_without_a_user_namespace_lets_the_tree_be_remounted(hostile_tree, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(hostile_tree, copy)
    result = run(["bwrap", "--ro-bind", copy, "/bundle", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
                  "/bundle/hostile", "tree", "/bundle"], text=True)
    assert "ESCAPED remount the tree read-write: done" in result.stdout.splitlines()
    assert (copy / "written-after-remount").read_text() == "x"


def test_the_program_cannot_read_the_callers_stdin(hostile_tree, verifier, sandbox):
    result = verifier.run(hostile_tree, "stdin", sandbox, input="SECRET\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stdin gave 0 bytes: " in program_lines(result)
    assert "SECRET" not in result.stdout
    assert "stdin gave 7 bytes: SECRET" in run([hostile_tree / "hostile", "stdin"], input="SECRET\n",
                                                 text=True).stdout  # the control


def test_the_program_cannot_type_into_the_callers_terminal(hostile_tree, verifier, sandbox):
    shown = through_terminal(verifier.argv(hostile_tree, "tiocsti", sandbox))
    assert "TIOCSTI on stdin: Not a tty" in shown
    assert "/dev/tty: No such device or address" in shown  # no controlling terminal
    assert "INJECTED" not in shown


def test_control_outside_the_sandbox_the_program_types_into_the_terminal(hostile_tree):
    assert "echo INJECTED" in through_terminal([os.fspath(hostile_tree / "hostile"), "tiocsti"])


def test_the_program_has_a_bounded_number_of_processes(hostile_tree, verifier, sandbox):
    result = verifier.run(hostile_tree, "forks 4000", sandbox)
    assert result.returncode == 0, result.stdout + result.stderr
    made = re.search(r"^  \| forked (\d+) of 4000: Resource temporarily unavailable$", result.stdout, re.M)
    assert made, result.stdout
    assert MAX_PROCESSES // 2 < int(made.group(1)) < MAX_PROCESSES


def test_a_fork_bomb_ends_at_the_timeout_with_no_process_left(hostile_tree, verifier, sandbox):
    result = verifier.run(hostile_tree, "forkbomb", sandbox, "--timeout", "1")
    assert result.returncode == 1
    assert f"{hostile_tree}: FAIL hostile: run: did not finish within 1 s in the empty root" \
        in result.stdout.splitlines()
    assert processes_in(pid_namespace(result)) == []


def test_a_daemon_ends_with_the_program_and_leaves_no_process(hostile_tree, verifier, sandbox):
    result = verifier.run(hostile_tree, "daemon", sandbox, "--timeout", "60")
    assert result.returncode == 0, result.stdout + result.stderr
    assert processes_in(pid_namespace(result)) == []


def test_killing_verify_kills_the_sandbox(hostile_tree, sandbox):
    verify = subprocess.Popen([sys.executable, "-m", "relinterp", "verify", hostile_tree, "--run", "sleep",
                               "--sandbox", sandbox], stdout=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the program runs: its processes, and theirs
        started = descendants(verify.pid)
        if any(os.readlink(f"/proc/{pid}/exe").endswith("/hostile") for pid in alive(started) if _exe(pid)):
            break
        time.sleep(0.05)
    else:
        pytest.fail("the program did not start")
    verify.kill()
    verify.wait()
    while alive(started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive(started) == set()


def _exe(pid: int) -> bool:
    try:
        return bool(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return False


def peak_memory(process: subprocess.Popen) -> int:
    """The process's peak resident size (VmHWM, KiB) until it ends, read from /proc as it
    runs: that of the program it became (wait4's ru_maxrss would also count what it was
    before exec, a copy of the test's own process)."""
    peak = 0
    while process.poll() is None:
        try:
            with open(f"/proc/{process.pid}/status") as status:
                peak = max([peak] + [int(line.split()[1]) for line in status if line.startswith("VmHWM:")])
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    return peak


def test_an_endless_writer_leaves_verify_under_64_mib(hostile_tree, verifier, sandbox, tmp_path):
    with open(tmp_path / "out", "w+b") as out:
        process = subprocess.Popen(verifier.argv(hostile_tree, "flood", sandbox, "--timeout", "1", "--json"),
                                   stdout=out, stderr=subprocess.DEVNULL, cwd="/")
        peak = peak_memory(process)
        out.seek(0)
        document = out.read().decode()
    assert process.returncode == 1
    assert 0 < peak < 64 << 10  # KiB
    program = valid_document(document, "verify")["trees"][0]["programs"][0]
    omitted = program["run"]["stdout_omitted"]
    assert omitted > 0 and program["run"]["stdout"] == \
        "x" * (512 << 10) + f"\n[... {omitted} bytes left out ...]\n" + "x" * (512 << 10)


def test_as_root_a_tree_other_users_may_not_enter_is_named_not_run(hostile_tree, tmp_path):
    tree = tmp_path / "private"
    tree.mkdir()
    shutil.copy2(hostile_tree / "hostile", tree / "hostile")
    os.chmod(tree, 0o700)
    result = relinterp("verify", tree, "--run", "status")
    assert result.returncode == 1
    assert f"{tree}: FAIL hostile: run: the tree: other users may not enter it (mode 0700), and as root verify " \
           "runs programs as user nobody (65534)" in result.stdout.splitlines()
    assert "ran /bundle/hostile" not in result.stdout
