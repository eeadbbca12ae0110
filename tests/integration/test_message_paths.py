"""Refusals and failed writes name the file as the user gave it: not the absolute path
an in-place write resolved it to, not the hidden directory a bundle is staged in."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from bundle_support import bundle
from conftest import LOADER_REL, MUSL_LOADER, relinterp, run, sha256
from hostile_support import SHDR, SHT_SYMTAB, copied


@pytest.mark.usefixtures("namespace")
def test_a_failed_in_place_write_names_the_path_as_given(programs, tmp_path):
    (tmp_path / "bin").mkdir()
    shutil.copy2(programs["hello"], tmp_path / "bin" / "app")
    os.symlink("app", tmp_path / "bin" / "app-link")
    digest = sha256(tmp_path / "bin" / "app")
    script = f'mount --bind -o ro "{tmp_path}" "{tmp_path}" && exec "$@"'
    for command in (["patch", "bin/app-link", "--loader-rel", LOADER_REL], ["restore", "bin/app-link"]):
        if command[0] == "restore":
            assert relinterp("patch", "bin/app", "--loader-rel", LOADER_REL, cwd=tmp_path).returncode == 0
            digest = sha256(tmp_path / "bin" / "app")
        result = run(["unshare", "-m", "sh", "-c", script, "sh", sys.executable, "-m", "relinterp", *command],
                     text=True, cwd=tmp_path)
        assert result.returncode == 1
        assert result.stderr.endswith("bin/app-link: cannot write (Read-only file system)\n"), result.stderr
        assert sha256(tmp_path / "bin" / "app") == digest


def test_bundle_refuses_a_program_it_could_not_patch_by_its_name_before_writing(programs, tmp_path):
    edit = copied(programs["hello"], tmp_path / "app")
    layout = edit.layout
    symtab = next(i for i, at in enumerate(layout.shdrs())
                  if layout.read(next(f for f in layout.fields_at(SHDR, at) if f.name == "sh_type")) == SHT_SYMTAB)
    app = edit.header("e_shstrndx", symtab).save()
    result = bundle(app, "-o", tmp_path / "dist")
    assert result.returncode == 1
    assert result.stderr.startswith(f"{app}: e_shstrndx {symtab} names a section of type 2"), result.stderr
    assert not (tmp_path / "dist").exists() and sorted(os.listdir(tmp_path)) == ["app"]


def test_a_bundle_step_that_fails_on_the_staged_copy_names_the_input(project, tmp_path):
    """The search-list editor (a patchelf that leaves a broken file) breaks the staged copy:
    the refusal names the program given, never `.dist.XXXX.relinterp/bin/chain`."""
    broken = tmp_path / "patchelf"
    broken.write_text('#!/bin/sh\nfor f; do :; done\nprintf "\\177ELF" > "$f"\n')  # the last argument: the file
    broken.chmod(0o755)
    result = bundle(project["chain"], "-o", tmp_path / "dist", "--library-path", project.build,
                    env=dict(os.environ, RELINTERP_PATCHELF=str(broken)))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{project['chain']}: truncated ELF header"), result.stderr
    assert ".relinterp" not in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["patchelf"]
