"""The files a bundle takes in besides its programs: each addition is checked before
anything is planned, and the ones that cannot be placed are refused with a reason."""

from __future__ import annotations

from relinterp.bundle.additions import DATA, DIRECTORY, PROGRAM, SHARED_OBJECT, TRACE, Addition, check_additions


def checked(*additions):
    problems = []
    return check_additions(additions, problems), [str(p) for p in problems]


def test_a_destination_is_normalised_and_a_shared_object_may_have_none(tmp_path):
    (tmp_path / "x.so").write_bytes(b"")
    usable, problems = checked(Addition(str(tmp_path / "x.so"), SHARED_OBJECT, TRACE, "lib/./py/../x.so"),
                               Addition(str(tmp_path / "x.so"), SHARED_OBJECT, TRACE))
    assert problems == []
    assert [a.dest for a in usable] == ["lib/x.so", None]


def test_data_needs_a_destination_inside_the_tree(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("x")
    usable, problems = checked(Addition(str(data), DATA, TRACE), Addition(str(data), DATA, TRACE, "../up"),
                               Addition(str(data), DATA, TRACE, "/abs"), Addition(str(data), DATA, TRACE, "."))
    assert usable == []
    assert problems == [f"{data}: data needs a place in the tree (trace)",
                        f"{data}: '../up' is not a path inside the tree (trace)",
                        f"{data}: '/abs' is not a path inside the tree (trace)",
                        f"{data}: '.' is not a path inside the tree (trace)"]


def test_a_missing_source_a_directory_and_an_unknown_role_are_refused(tmp_path):
    (tmp_path / "file").write_text("")
    usable, problems = checked(Addition(str(tmp_path / "gone"), PROGRAM, TRACE),
                               Addition(str(tmp_path), DATA, TRACE, "d"),
                               Addition(str(tmp_path / "file"), DIRECTORY, TRACE, "d"),
                               Addition(str(tmp_path), DIRECTORY, TRACE),
                               Addition(str(tmp_path), "plugin", TRACE, "d"))
    assert usable == []
    assert problems == [f"{tmp_path / 'gone'}: does not exist (trace)", f"{tmp_path}: is not a file (trace)",
                        f"{tmp_path / 'file'}: is not a directory (trace)",
                        f"{tmp_path}: directory needs a place in the tree (trace)",
                        f"{tmp_path}: unknown role 'plugin' (one of shared-object, program, data, directory)"]


def test_two_files_for_one_place_are_refused_and_one_file_twice_is_kept_once(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("a")
    b.write_text("b")
    usable, problems = checked(Addition(str(a), DATA, TRACE, "share/x"), Addition(str(a), DATA, TRACE, "share/x"),
                               Addition(str(b), DATA, TRACE, "share/x"))
    assert len(usable) == 1
    assert problems == [f"share/x: two different files for one place: {a} and {b}"]
