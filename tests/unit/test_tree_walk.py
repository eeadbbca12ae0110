"""Walking an install prefix as its mirror will be, and the record that says which tree
bundle may replace: on small directories made here, no toolchain."""

from __future__ import annotations

import json
import os

from relinterp.bundle.record import RECORD, record_bytes, replace_problem
from relinterp.bundle.walk import DIRECTORY, FILE, LINK, walk_stage


def walked(stage, copy_outside_links=False):
    problems = []
    entries = walk_stage(str(stage), copy_outside_links, problems)
    return {e.dest: (e.kind, e.link) for e in entries}, [str(p) for p in problems]


def test_links_inside_stay_absolute_ones_into_the_stage_become_relative(tmp_path):
    stage = tmp_path / "stage"
    (stage / "lib").mkdir(parents=True)
    (stage / "lib/libx.so.1").write_bytes(b"x")
    (stage / "lib/libx.so").symlink_to("libx.so.1")
    (stage / "lib/abs.so").symlink_to(stage / "lib/libx.so.1")
    (stage / "top").symlink_to(".")
    (stage / RECORD).write_text("{}")  # an earlier bundle's record: not part of the prefix
    entries, problems = walked(stage)
    assert problems == []
    assert entries == {"lib": (DIRECTORY, None), "lib/libx.so.1": (FILE, None), "lib/libx.so": (LINK, "libx.so.1"),
                       "lib/abs.so": (LINK, "libx.so.1"), "top": (LINK, ".")}


def test_links_leaving_the_stage_are_refused_or_become_copies(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("o")
    stage = tmp_path / "stage"
    (stage / "share").mkdir(parents=True)
    (stage / "share/up").symlink_to("../../outside.txt")
    (stage / "share/abs").symlink_to(outside)
    entries, problems = walked(stage)
    assert sorted(entries) == ["share"]
    assert problems == [f"{stage}/share/abs: a symbolic link to {outside}, outside the tree: it would name a file "
                        "of the machine the tree lands on (--copy-outside-links copies the file)",
                        f"{stage}/share/up: a symbolic link to ../../outside.txt, outside the tree: it would name "
                        "a file of the machine the tree lands on (--copy-outside-links copies the file)"]
    problems = []
    copies = {e.dest: e.source for e in walk_stage(str(stage), True, problems) if e.kind == FILE}
    assert (copies, problems) == ({"share/abs": str(outside), "share/up": str(outside)}, [])


def test_a_fifo_is_refused(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    assert walked(tmp_path)[1] == [f"{tmp_path}/pipe: a FIFO: a tree holds files, directories and symbolic links only"]


def test_the_record_lists_every_path_and_its_directories():
    document = json.loads(record_bytes(["bin/app", "share/app/data.txt"]))
    assert document == {"relinterp_bundle_record": 1,
                        "paths": ["bin", "bin/app", "share", "share/app", "share/app/data.txt"]}


def test_a_tree_is_replaced_only_when_its_record_lists_everything_in_it(tmp_path):
    tree = tmp_path / "dist"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin/app").write_text("")
    (tree / RECORD).write_bytes(record_bytes(["bin/app"]))
    assert replace_problem(str(tree), ("lib", "bin")) is None
    (tree / "bin/mine").write_text("")
    assert str(replace_problem(str(tree), ("lib", "bin"))) == (
        f"{tree}: holds files bundle did not make (bin/mine): not replacing it; remove them or choose another "
        "directory")
    (tree / RECORD).write_text('{"relinterp_bundle_record": 1, "paths": "bin"}')
    assert str(replace_problem(str(tree), ("lib", "bin"))) == (
        f"{tree}: its record {RECORD} cannot be read (not a record of format 1): not replacing it")


def test_a_tree_without_a_record_is_replaced_when_it_holds_only_bin_and_lib(tmp_path):
    (tmp_path / "bin").mkdir()
    assert replace_problem(str(tmp_path), ("lib", "bin")) is None
    (tmp_path / "share").mkdir()
    assert "holds more than a bundle (share)" in str(replace_problem(str(tmp_path), ("lib", "bin")))
    assert replace_problem(str(tmp_path / "new"), ("lib", "bin")) is None
