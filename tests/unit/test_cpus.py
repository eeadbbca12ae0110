"""-j's default: the CPUs this process may use, not the machine's count."""

from __future__ import annotations

import shutil
import sys

import pytest

from conftest import run
from relinterp.cpus import cgroup_cpu_quota


def test_a_process_pinned_to_one_cpu_gets_one_worker():
    if shutil.which("taskset") is None:
        pytest.skip("taskset is needed (util-linux)")
    shown = run(["taskset", "-c", "0", sys.executable, "-c",
                 "from relinterp.cpus import usable_cpus; print(usable_cpus())"], text=True)
    assert shown.stdout.strip() == "1", shown.stderr


def cgroups(tmp_path, limits: dict[str, str]):
    """A cgroup v2 tree under tmp_path with cpu.max files, and the /proc/self/cgroup of a
    process in its innermost group."""
    root = tmp_path / "cgroup"
    for group, limit in limits.items():
        (root / group).mkdir(parents=True, exist_ok=True)
        (root / group / "cpu.max").write_text(limit + "\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(f"0::/{max(limits, key=len)}\n")
    return str(proc), str(root)


def test_the_tightest_quota_of_the_cgroup_and_its_ancestors_counts(tmp_path):
    proc, root = cgroups(tmp_path, {"ci": "250000 100000", "ci/job": "max 100000", "ci/job/step": "150000 100000"})
    assert cgroup_cpu_quota(proc, root) == 1.5


def test_no_quota_anywhere_is_no_limit(tmp_path):
    proc, root = cgroups(tmp_path, {"ci": "max 100000", "ci/job": "max 100000"})
    assert cgroup_cpu_quota(proc, root) is None
    assert cgroup_cpu_quota(str(tmp_path / "no-such-file"), root) is None
