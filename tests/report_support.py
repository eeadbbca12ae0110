"""Support for the tests of inspect, restore, many files and --json: the CLI in-process,
the shipped JSON Schema, and real ELF files with less in them (stripped, no section
headers)."""

from __future__ import annotations

import json
import shutil
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import jsonschema
from click.testing import CliRunner
from elftools.elf.elffile import ELFFile

from conftest import run
from relinterp.cli import main


def invoke(*args):
    """The command line in-process; stdout and stderr apart."""
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@lru_cache(maxsize=None)
def report_schema(name: str = "report") -> dict:
    """A schema as installed with the package (package data), not from the source tree."""
    return json.loads((files("relinterp") / "schema" / f"{name}.schema.json").read_text())


def valid_document(text: str, schema: str = "report") -> dict:
    """Parse a --json output and check it against the shipped schema."""
    document = json.loads(text)
    jsonschema.Draft202012Validator(report_schema(schema)).validate(document)
    return document


def json_run(*args) -> tuple[dict, object]:
    """Run a command with --json in-process: (validated document, click result)."""
    result = invoke(*args, "--json")
    return valid_document(result.stdout), result


def copied(source: Path, target: Path) -> Path:
    shutil.copy2(source, target)
    return target


def stripped(source: Path, target: Path) -> Path:
    """`strip --strip-all` of source, as target."""
    assert run(["strip", "--strip-all", "-o", target, source]).returncode == 0
    return target


def without_section_headers(source: Path, target: Path) -> Path:
    """source with no section header table at all, cut after its last segment (as
    sstrip makes them): only program headers describe it."""
    shutil.copy2(source, target)
    with open(target, "r+b") as f:
        elf = ELFFile(f)
        end = max(s["p_offset"] + s["p_filesz"] for s in elf.iter_segments())
        header = elf.header
        header.e_shoff, header.e_shnum, header.e_shstrndx = 0, 0, 0
        f.seek(0)
        f.write(elf.structs.Elf_Ehdr.build(header))
        f.truncate(end)
    return target
