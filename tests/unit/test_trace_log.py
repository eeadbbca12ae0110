"""strace's log read back (relinterp.trace.syscalls), and the list of files a run
used built from it (relinterp.trace.model), on log lines written as strace 6.1
writes them with -f -y -xx."""

from __future__ import annotations

import os

from relinterp.trace.model import EXECUTED, MAPPED, OPENED, PROBED, Access, absolute, build_trace
from relinterp.trace.syscalls import read_syscalls, split_args, string_arg, unescape


def hexed(text: str) -> str:
    """A string as strace -xx prints it."""
    return '"' + "".join(f"\\x{b:02x}" for b in os.fsencode(text)) + '"'


def fd(number, path: str) -> str:
    return f"{number}<{hexed(path)[1:-1]}>"


def test_a_completed_call_gives_its_arguments_result_and_file():
    line = f'17 openat({fd("AT_FDCWD", "/tmp")}, {hexed("/etc/ld.so.cache")}, O_RDONLY|O_CLOEXEC) = {fd(3, "/etc/ld.so.cache")}'
    (call,) = read_syscalls([line])
    assert (call.pid, call.name, call.result, call.result_path, call.errno, call.ok) == \
        (17, "openat", "3", "/etc/ld.so.cache", None, True)
    assert string_arg(call.args[1]) == "/etc/ld.so.cache"


def test_a_failed_call_gives_its_errno():
    (call,) = read_syscalls([f'5 access({hexed("/etc/ld.so.preload")}, R_OK) = -1 ENOENT (No such file or directory)'])
    assert (call.result, call.errno, call.ok) == ("-1", "ENOENT", False)


def test_an_unfinished_call_is_joined_to_its_resumption_across_padding():
    lines = ["17681 vfork( <unfinished ...>",
             f'17682 execve({hexed("/usr/bin/ar")}, [{hexed("ar")}], 0x7ff /* 3 vars */ <unfinished ...>',
             "17681 <... vfork resumed>)              = 17682",
             "17682 <... execve resumed>)             = 0"]
    calls = list(read_syscalls(lines))
    assert [(c.pid, c.name, c.result) for c in calls] == [(17681, "vfork", "17682"), (17682, "execve", "0")]
    assert string_arg(calls[1].args[0]) == "/usr/bin/ar"


def test_lines_that_are_not_calls_are_passed_over():
    lines = ["12 +++ exited with 0 +++", "12 --- SIGCHLD {si_signo=SIGCHLD} ---", "garbage",
             "12 exit_group(0) = ?"]
    assert [c.name for c in read_syscalls(lines)] == ["exit_group"]


def test_paths_with_quotes_commas_newlines_and_invalid_utf8_survive():
    weird = os.fsdecode(b'/tmp/a "b", c)\n = d\xff')
    (call,) = read_syscalls([f"9 stat({hexed(weird)}, 0x7ffd) = 0"])
    assert string_arg(call.args[0]) == weird


def test_plain_c_escapes_are_read_too():
    assert unescape(rb'a\"b\\c\n\101\x42') == b'a"b\\c\nAB'
    assert split_args(r'"a\", b", [1, 2], {x=1, y=2}, 3</x>') == [r'"a\", b"', "[1, 2]", "{x=1, y=2}", "3</x>"]


def test_a_descriptor_on_a_socket_names_no_file():
    (call,) = read_syscalls([f'4 openat(AT_FDCWD, {hexed("/x")}, O_RDONLY) = 3<{hexed("socket:[77]")[1:-1]}>'])
    assert call.result_path is None


def trace(lines, programs=("/usr/bin/app",), cwd="/work"):
    return build_trace(read_syscalls(lines), programs, cwd)


def exec_line(pid, path, result="0"):
    return f"{pid} execve({hexed(path)}, [{hexed(path)}], 0x1 /* 1 var */) = {result}"


def test_only_the_processes_of_the_programs_are_followed():
    lines = [exec_line(1, "/bin/sh"),
             f'1 openat({fd("AT_FDCWD", "/work")}, {hexed("/etc/profile")}, O_RDONLY) = {fd(3, "/etc/profile")}',
             exec_line(1, "/usr/bin/app"),
             f'1 openat({fd("AT_FDCWD", "/work")}, {hexed("data.txt")}, O_RDONLY) = {fd(3, "/work/data.txt")}']
    found = trace(lines)
    assert found.started == ("/usr/bin/app",)
    assert [(a.path, a.how, a.by) for a in found.accesses] == [("/work/data.txt", OPENED, "/usr/bin/app")]


def test_a_relative_path_follows_chdir_and_is_inherited_by_a_child():
    lines = [exec_line(1, "/usr/bin/app"),
             f'1 chdir({hexed("/opt/app/bin")}) = 0',
             "1 clone(child_stack=NULL, flags=SIGCHLD) = 2",
             f'2 execve({hexed("../libexec/helper")}, [{hexed("helper")}], 0x1 /* 1 var */) = 0',
             f'2 access({hexed("conf")}, R_OK) = -1 ENOENT (No such file or directory)']
    accesses = trace(lines).accesses
    assert Access("/opt/app/libexec/helper", EXECUTED, True, by="/usr/bin/app") in accesses
    assert Access("/opt/app/bin/conf", PROBED, False, "ENOENT", by="/opt/app/libexec/helper") in accesses


def test_a_child_seen_before_its_fork_returns_still_inherits_the_working_directory():
    lines = [exec_line(1, "/usr/bin/app"), f'1 chdir({hexed("/srv")}) = 0', "1 vfork( <unfinished ...>",
             f'2 stat({hexed("here")}, 0x1) = 0', "1 <... vfork resumed>) = 2"]
    assert trace(lines).accesses[0].path == "/srv/here"


def test_an_at_call_resolves_against_its_directory_descriptor():
    lines = [exec_line(1, "/usr/bin/app"),
             f'1 newfstatat({fd(4, "/usr/lib/app")}, {hexed("plugin.so")}, 0x1, 0) = 0',
             f'1 newfstatat({fd(4, "/usr/lib/app")}, "", {{st_mode=S_IFDIR}}, AT_EMPTY_PATH) = 0']
    assert [a.path for a in trace(lines).accesses] == ["/usr/lib/app/plugin.so"]


def test_a_shared_object_is_mapped_executable_under_the_name_it_was_opened_by():
    real = os.path.realpath("/")  # a path whose real path is itself
    lines = [exec_line(1, "/usr/bin/app"),
             f'1 openat({fd("AT_FDCWD", "/")}, {hexed(real)}, O_RDONLY|O_CLOEXEC) = {fd(3, real)}',
             f'1 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, {fd(3, real)}, 0) = 0x7f0000',
             f'1 mmap(0x7f1000, 4096, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED, {fd(3, real)}, 0x1000) = 0x7f1000',
             "1 mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f2000",
             f'1 openat({fd("AT_FDCWD", "/")}, {hexed("/data.bin")}, O_RDONLY) = {fd(4, "/data.bin")}',
             f'1 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, {fd(4, "/data.bin")}, 0) = 0x7f3000']
    mapped = [a.path for a in trace(lines).accesses if a.how == MAPPED]
    assert mapped == [real]


def test_opening_for_writing_is_told_apart_and_uses_merge():
    lines = [exec_line(1, "/usr/bin/app"),
             f'1 openat(AT_FDCWD, {hexed("/tmp/out")}, O_RDONLY) = -1 ENOENT (No such file or directory)',
             f'1 openat(AT_FDCWD, {hexed("/tmp/out")}, O_WRONLY|O_CREAT|O_TRUNC, 0644) = {fd(3, "/tmp/out")}']
    (access,) = trace(lines).accesses
    assert (access.found, access.error, access.writing) == (True, None, True)


def test_the_program_running_another_records_it_and_follows_it():
    lines = [exec_line(1, "/usr/bin/app"), exec_line(1, "/nowhere/tool", "-1 ENOENT (No such file or directory)"),
             exec_line(1, "/usr/bin/tool"), f'1 access({hexed("/etc/tool.conf")}, R_OK) = 0']
    accesses = trace(lines).accesses
    assert [(a.path, a.how, a.found, a.by) for a in accesses] == [
        ("/nowhere/tool", EXECUTED, False, "/usr/bin/app"), ("/usr/bin/tool", EXECUTED, True, "/usr/bin/app"),
        ("/etc/tool.conf", PROBED, True, "/usr/bin/tool")]


def test_a_run_that_never_executes_the_program_has_nothing_started():
    assert trace([exec_line(1, "/bin/sh")]).started == ()


def test_dot_dot_is_resolved_after_the_symbolic_link_before_it(tmp_path):
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real" / "sub")
    assert absolute("link/../x", str(tmp_path)) == os.path.join(os.path.realpath(tmp_path), "real", "x")
    assert absolute("./a//b/", "/") == "/a/b"
    assert absolute("rel", None) is None and absolute("", "/x") is None
