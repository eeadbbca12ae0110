"""The package's layers import downward only: reading ELF files knows nothing of
patching or bundling, the loaders' rules nothing of the stub, and no layer reaches up
to the commands.  Checked on the source with `ast`, so a function-local import counts
like any other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "relinterp"
# Lowest first.  A module may import its own part, and any part of a lower layer; parts
# of one layer are independent of each other.
LAYERS = (
    ("errors",),
    ("elf",),
    ("rewrite", "loaders", "sbom", "trace"),
    ("bundle", "verify"),
    ("api", "batch", "cpus", "interrupts", "report", "render", "launch", "cli", "tree_cli", "params", "loader_info",
     "__init__",
     "__main__"),
)
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def part_of(module: str) -> str:
    """'relinterp.elf.model' -> 'elf'; 'relinterp' -> '__init__'."""
    names = module.split(".")
    return names[1] if len(names) > 1 else "__init__"


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, package_dir: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every relinterp module `path` imports."""
    name = module_name(path, package_dir)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "relinterp"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "relinterp":
                continue
            if target == "relinterp" or target.count(".") == 1 and not node.module:
                # `from . import api` / `from .. import x`: the names are modules
                found += [(node.lineno, f"{target}.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, target))
    return found


def upward_imports(path: Path, package: Path = PACKAGE) -> list[str]:
    here = path.stem if path.parent == package else part_of(module_name(path, package))
    top = len(LAYERS) - 1
    wrong = []
    for line, target in imports(path, package):
        there = part_of(target)
        if there == "__version__" or RANK[here] == top:
            continue  # the commands use each other and everything below
        if there != here and RANK.get(there, top) >= RANK[here]:
            wrong.append(f"{path.relative_to(package.parent)}:{line}: {here} imports {target}")
    return wrong


def test_every_module_belongs_to_a_layer():
    parts = {p.name if p.is_dir() else p.stem for p in PACKAGE.iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    assert parts - set(RANK) == set()


def test_imports_run_downward_only():
    wrong = [w for path in sorted(PACKAGE.rglob("*.py")) for w in upward_imports(path)]
    assert wrong == []


@pytest.mark.parametrize("source, expected", [
    ("from ..api import patch", ["relinterp/elf/x.py:1: elf imports relinterp.api"]),
    ("def f():\n    from ..rewrite.plan import plan_patch", ["relinterp/elf/x.py:2: elf imports relinterp.rewrite.plan"]),
    ("from ..loaders import musl", ["relinterp/elf/x.py:1: elf imports relinterp.loaders"]),
    ("from .structs import layouts\nfrom ..errors import ReadError", []),
])
def test_the_check_sees_an_upward_import(tmp_path, source, expected):
    package = tmp_path / "relinterp"
    (package / "elf").mkdir(parents=True)
    (package / "elf/x.py").write_text(source)
    assert upward_imports(package / "elf/x.py", package) == expected
