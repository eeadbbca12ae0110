"""How many CPUs this process may use: the default number of workers (-j).

os.cpu_count() counts the machine's CPUs; a process may be pinned to fewer (its
affinity mask: taskset, a container's cpuset) and limited to less time than that
(a cgroup v2 quota, `cpu.max`: what `docker --cpus` and CI runners set).
"""

from __future__ import annotations

import math
import os

PROC_CGROUP = "/proc/self/cgroup"
CGROUP_ROOT = "/sys/fs/cgroup"


def usable_cpus() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def cgroup_cpu_quota(proc_cgroup: str = PROC_CGROUP, root: str = CGROUP_ROOT) -> float | None:
    """The tightest cpu.max quota (quota / period, in CPUs) of this process's cgroup v2 and
    its ancestors; None when there is none (or no cgroup v2)."""
    try:
        with open(proc_cgroup) as stream:
            path = next((line.strip()[3:] for line in stream if line.startswith("0::")), None)
    except OSError:
        return None
    if path is None:
        return None
    limits = []
    directory = os.path.join(root, path.lstrip("/"))
    while True:
        limits += _cpu_max(os.path.join(directory, "cpu.max"))
        if os.path.normpath(directory) == os.path.normpath(root):
            break
        directory = os.path.dirname(directory)
    return min(limits) if limits else None


def _cpu_max(path: str) -> list[float]:
    """[quota in CPUs] from a cpu.max file ("150000 100000"); [] for "max" or no file."""
    try:
        with open(path) as stream:
            quota, period = stream.read().split()[:2]
    except (OSError, ValueError):
        return []
    return [] if quota == "max" else [int(quota) / int(period)]
