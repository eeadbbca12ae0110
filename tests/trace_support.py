"""What the tests of bundle --trace share: the real strace (a fixture), the programs they
trace, and the refusals they expect."""

from __future__ import annotations

import os

import pytest

from conftest import installed, relinterp, unavailable

PYTHON = "/usr/bin/python3.11"
PROBE = "-c 'import ssl, sqlite3, ctypes, lzma, bz2, decimal, json'"


@pytest.fixture(scope="session")
def strace() -> str:
    return installed("strace", "strace")


def needs(*paths: str) -> None:
    for path in paths:
        if not os.path.exists(path):
            unavailable(f"{path} is needed (Debian 12: apt-get install python3.11 gcc)")


def bundle(*args, **kwargs):
    return relinterp("bundle", *args, **kwargs)


def verify_run(tree, args: str):
    return relinterp("verify", tree, "--run", args)


def refused_in_one_line(result, *words: str) -> str:
    """bundle refused with status 1 and one line on stderr holding `words`."""
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]
    return lines[0]


def refused_by_the_plan(result, output, *words: str) -> str:
    """bundle refused with status 1: one line naming the problem, holding `words`, and
    the plan's summary line, nothing written."""
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[1:] == [f"{output}: nothing written (1 problem)"], result.stderr
    for word in words:
        assert word in lines[0]
    assert not os.path.lexists(output)
    return lines[0]
