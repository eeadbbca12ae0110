"""Where what a traced run used goes (relinterp.bundle.traced.place_traced): a pure
function, tested on made-up traces and made-up facts about each path."""

from __future__ import annotations

import pytest

from relinterp.bundle.discover import neutral_environment
from relinterp.bundle.additions import DATA, DIRECTORY as ADDED_DIRECTORY, PROGRAM as ADDED_PROGRAM, SHARED_OBJECT, \
    TRACE, Addition
from relinterp.trace.model import EXECUTED, MAPPED, OPENED, PROBED, Access, Trace
from relinterp.bundle.traced import (DIRECTORY, FILE, LIBRARY, MISSING, OTHER, PROGRAM, PathFacts, TargetFile,
                                     place_traced, program_prefix)

APP = "/usr/bin/app"
FACTS = {
    APP: PathFacts(PROGRAM, "/usr/bin/app"),
    "/usr/lib/app/plugin.so": PathFacts(LIBRARY, "/usr/lib/app/plugin.so"),
    "/usr/lib/x86_64-linux-gnu/libz.so.1": PathFacts(LIBRARY, "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13"),
    "/opt/other/libx.so": PathFacts(LIBRARY, "/opt/other/libx.so"),
    "/usr/libexec/app/helper": PathFacts(PROGRAM, "/usr/libexec/app/helper"),
    "/usr/libexec/app/script": PathFacts(FILE, "/usr/libexec/app/script"),
    "/usr/share/app/data.txt": PathFacts(FILE, "/usr/share/app/data.txt"),
    "/usr/share/app": PathFacts(DIRECTORY, "/usr/share/app"),
    "/usr": PathFacts(DIRECTORY, "/usr"),
    "/usr/lib/ssl/cert.pem": PathFacts(FILE, "/etc/ssl/certs/ca-certificates.crt"),
    "/usr/share/app/missing": PathFacts(MISSING, "/usr/share/app/missing"),
    "/etc/localtime": PathFacts(FILE, "/usr/share/zoneinfo/Etc/UTC"),
    "/etc/app.conf": PathFacts(MISSING, "/etc/app.conf"),
    "/bin/sh": PathFacts(PROGRAM, "/usr/bin/dash"),
    "/lib/x86_64-linux-gnu/libc.so.6": PathFacts(LIBRARY, "/usr/lib/x86_64-linux-gnu/libc.so.6"),
    "/dev/null": PathFacts(OTHER, "/dev/null"),
    "/usr/var/app.log": PathFacts(FILE, "/usr/var/app.log"),
}


def place(*accesses: Access, prefix: str | None = "/usr"):
    return place_traced(Trace((APP,), (APP,), accesses), prefix, FACTS, {APP})


def used(path, how=OPENED, found=True, by=APP, writing=False) -> Access:
    return Access(path, how, found, None if found else "ENOENT", writing, by)


def test_a_shared_object_of_the_prefix_goes_to_its_place_under_the_tree():
    placed = place(used("/usr/lib/app/plugin.so", MAPPED))
    assert placed.additions == (Addition("/usr/lib/app/plugin.so", SHARED_OBJECT, TRACE, "lib/app/plugin.so",
                                         loaded_by=APP),)


def test_a_shared_object_from_elsewhere_goes_to_the_library_directory():
    placed = place(used("/opt/other/libx.so", MAPPED))
    assert [(e.source, e.dest, e.role) for e in placed.additions] == [("/opt/other/libx.so", None, SHARED_OBJECT)]
    assert placed.from_target == ()


def test_a_program_of_the_prefix_it_runs_is_bundled_at_its_place_and_what_it_loads_too():
    helper = "/usr/libexec/app/helper"
    placed = place(used(helper, EXECUTED), used("/usr/lib/app/plugin.so", MAPPED, by=helper))
    assert [(e.dest, e.role) for e in placed.additions] == [("libexec/app/helper", ADDED_PROGRAM),
                                                         ("lib/app/plugin.so", SHARED_OBJECT)]


def test_what_a_program_from_the_target_maps_is_its_own_business():
    placed = place(used("/bin/sh", EXECUTED), used("/lib/x86_64-linux-gnu/libc.so.6", MAPPED, by="/bin/sh"))
    assert placed.additions == ()
    assert placed.from_target == (TargetFile("/bin/sh", EXECUTED, True, False, APP),)


def test_a_script_of_the_prefix_it_runs_is_copied():
    placed = place(used("/usr/libexec/app/script", EXECUTED))
    assert [(e.dest, e.role) for e in placed.additions] == [("libexec/app/script", DATA)]


def test_data_and_directories_of_the_prefix_are_copied_and_the_prefix_itself_is_the_tree():
    placed = place(used("/usr", PROBED), used("/usr/share/app", PROBED), used("/usr/share/app/data.txt"))
    assert [(e.dest, e.role) for e in placed.additions] == [("share/app", ADDED_DIRECTORY),
                                                         ("share/app/data.txt", DATA)]
    assert placed.from_target == ()


def test_a_link_leading_out_of_the_prefix_names_the_targets_file():
    placed = place(used("/usr/lib/ssl/cert.pem"))
    assert placed.additions == ()
    assert [t.path for t in placed.from_target] == ["/usr/lib/ssl/cert.pem"]


def test_files_outside_the_prefix_are_the_targets_found_or_not():
    placed = place(used("/etc/localtime"), used("/etc/app.conf", PROBED, found=False), used("/dev/null"))
    assert placed.additions == ()
    assert placed.from_target == (TargetFile("/etc/localtime", OPENED, True, False, APP),
                                  TargetFile("/etc/app.conf", PROBED, False, False, APP),
                                  TargetFile("/dev/null", OPENED, True, False, APP))


def test_a_path_of_the_prefix_that_is_absent_is_left_out():
    assert place(used("/usr/share/app/missing", PROBED, found=False)) == place()


def test_a_file_it_writes_is_not_copied_but_listed():
    placed = place(used("/usr/var/app.log", writing=True))
    assert placed.additions == ()
    assert placed.from_target == (TargetFile("/usr/var/app.log", OPENED, True, True, APP),)


def test_a_library_the_program_opens_and_maps_is_placed_once_as_a_library():
    placed = place(used("/usr/lib/app/plugin.so", PROBED), used("/usr/lib/app/plugin.so"),
                   used("/usr/lib/app/plugin.so", MAPPED))
    assert [(e.dest, e.role) for e in placed.additions] == [("lib/app/plugin.so", SHARED_OBJECT)]


def test_the_program_itself_is_not_added_again():
    assert place(used(APP, PROBED), used(APP, EXECUTED)) == place()


def test_without_a_prefix_nothing_is_copied_but_shared_objects():
    placed = place(used("/usr/lib/app/plugin.so", MAPPED), used("/usr/share/app/data.txt"), prefix=None)
    assert [(e.dest, e.role) for e in placed.additions] == [(None, SHARED_OBJECT)]
    assert [t.path for t in placed.from_target] == ["/usr/share/app/data.txt"]


@pytest.mark.parametrize("program, bin_dir, prefix", [
    ("/usr/bin/python3.11", "bin", "/usr"),
    ("/opt/app/usr/bin/app", "usr/bin", "/opt/app"),
    ("/bin/date", "bin", None),
    ("/opt/app/bin/app", "./bin/", "/opt/app"),
])
def test_the_prefix_is_the_programs_directory_less_bin_dirs_depth(program, bin_dir, prefix):
    assert program_prefix(program, bin_dir) == prefix


def test_a_traced_run_gets_the_c_locale_no_time_zone_and_nothing_preloaded():
    environ = {"PATH": "/bin", "LANG": "de_DE.UTF-8", "LC_TIME": "x", "LC_ALL": "de_DE", "TZ": "UTC",
               "LD_PRELOAD": "/x.so", "HOME": "/root"}
    assert neutral_environment(environ) == {"PATH": "/bin", "HOME": "/root", "LC_ALL": "C"}
