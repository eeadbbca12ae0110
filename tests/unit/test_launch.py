"""A plain run of patch, restore or inspect is parsed without click; it must mean what
the full command line would make of it, and anything else must go to the full one."""

from __future__ import annotations

import pytest

from relinterp import cli
from relinterp.launch import parse_plain

PLAIN = [
    ["patch", "app", "--loader-rel", "../lib/ld.so"],
    ["patch", "-r", "-j", "3", "--loader-rel", "a/ld.so", "--loader-rel", "b/ld.so", "--loader", "/lib/ld.so",
     "--fallback-system", "--json", "-v", "dir", "other"],
    ["patch", "app", "-o", "out", "-n", "--loader", "/ld.so"],
    ["restore", "app", "--output", "out", "--verbose"],
    ["restore", "-r", "a", "b", "--jobs", "1"],
    ["inspect", "a", "b", "--json"],
]


def full_parse(args: list[str]) -> dict:
    """What click makes of `args`: the command's parameters, defaults included."""
    command = cli.main.commands[args[0]]
    return command.make_context(args[0], list(args[1:])).params


@pytest.mark.parametrize("args", PLAIN, ids=" ".join)
def test_a_plain_run_means_what_the_full_command_line_reads(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no directory of these names exists here
    parsed = parse_plain(args)
    assert parsed is not None
    command, paths, options = parsed
    expected = full_parse(args)
    assert (command, tuple(paths)) == (args[0], expected.pop("paths"))
    for name, value in expected.items():  # an option left out is the full command line's default
        absent = () if name in ("loader_rel", "loader") else False if isinstance(value, bool) else None
        assert options.get(name, absent) == value, name


@pytest.mark.parametrize("args", [
    [], ["--help"], ["--version"], ["patch", "--help"], ["bundle", "app", "-o", "dist"], ["verify", "dist"],
    ["patch", "app"] + ["--loader-rel", "/absolute"],  # refused by the option's type
    ["patch", "app", "--loader", "relative"],
    ["patch", "app", "--loader-rel"],  # a value missing
    ["patch", "-rv", "dir"],  # short flags run together
    ["patch", "--jobs=2", "app"], ["patch", "-j2", "app"], ["patch", "-j", "0", "app"], ["patch", "-j", "x", "app"],
    ["patch", "--unknown", "app"], ["patch", "--", "-app"], ["inspect", "--loader-rel", "x", "app"],
    ["patch", "-o", "out", "a", "b"],  # -o with two files
    ["restore", "-o", "a", "-o", "b", "app"],
    ["inspect"],  # no file
], ids=lambda args: " ".join(args) or "(none)")
def test_anything_else_goes_to_the_full_command_line(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert parse_plain(args) is None


def test_a_directory_without_r_goes_to_the_full_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dir").mkdir()
    assert parse_plain(["inspect", "dir"]) is None
    assert parse_plain(["inspect", "-r", "dir"]) == ("inspect", ["dir"], {"recursive": True})


def test_a_plain_patch_imports_neither_click_nor_pyelftools_nor_typing(tmp_path):
    """What keeps a small patch near the interpreter's own start-up: the whole plain path,
    refusal and output included, runs on relinterp's own modules and the standard library."""
    import subprocess
    import sys

    code = ("import sys; from relinterp.launch import run_files; "
            "status = run_files('patch', [sys.argv[1]], {'loader_rel': ('../lib/ld.so',), 'loader': ()}); "
            "print(status, sorted({m.split('.')[0] for m in sys.modules} & {'click', 'elftools', 'typing'}))")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "missing")], capture_output=True, text=True)
    assert result.stdout == "1 []\n", result.stderr
