"""One case: a mutated file run through relinterp in a forked child, with a time and
memory limit, and everything that must hold checked.

A child (forked from a process that has imported relinterp and loaded its stubs, so a
case costs a share of a fork, not an interpreter) runs a batch of cases, each with the
time limit restarted, one after the other on a fresh copy of its file:
`restore -o`, `inspect`, `patch -n` and `patch` in place through the Python API, then
`restore` in place if the patch was written; one case in CLI_EVERY first runs
`inspect --json`, `patch -n -v` and `restore -o` through the command line's entry point.

What must hold: every exception is a relinterp.errors class whose message is one line
`PATH: reason` and whose exit status is documented (1 or 3); a refusal leaves the file
byte-identical; nothing but the file (and a written output) is left in its directory;
a patch restored gives back the input's bytes; the command line exits 0, 1 or 3 and
prints no internal error, no traceback, valid --json.  The parent adds what the child
cannot see: a hang (killed by the time limit), a crash (any other signal), peak RSS.
A child that dies has the case it was running run again alone, so that a hang or crash
is charged to its case; the rest of the batch goes on in a new child.
"""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import sys
from dataclasses import dataclass, field

DOCUMENTED_EXIT = (1, 3)  # a refusal: failed, nothing to do
CLI_EXIT = (0, 1, 3)
CLI_EVERY = 4
RESTORED = "restored"  # the one other name a case may leave in its directory


@dataclass
class Outcome:
    """What one case did: per operation "ok:STATUS" / "refused:KIND", and its defects."""

    ops: dict[str, str] = field(default_factory=dict)
    defects: list[tuple[str, str]] = field(default_factory=list)  # (class, detail)


class Checker:
    """Runs the operations on `path` and records what went wrong."""

    def __init__(self, api, errors, path: str, original: bytes) -> None:
        self.api, self.errors, self.path, self.original = api, errors, path, original
        self.directory = os.path.dirname(path)
        self.outcome = Outcome()
        self.expected = original  # what the file holds unless an operation rewrote it

    def defect(self, kind: str, detail: str) -> None:
        self.outcome.defects.append((kind, detail[:300]))

    def call(self, op: str, function, *, writes: bool = False):
        """function(), classified; None when it raised."""
        try:
            result = function()
        except self.errors.RelinterpError as error:
            self.outcome.ops[op] = f"refused:{error.kind}"
            if error.exit_code not in DOCUMENTED_EXIT:
                self.defect("undocumented-exit-status", f"{op}: {error.exit_code}: {error}")
            text = str(error)
            if not text.startswith(self.path + ": ") or "\n" in text:
                self.defect("malformed-message", f"{op}: {text!r}")
            self.check_unchanged(op)
            return None
        except MemoryError:
            self.outcome.ops[op] = "memory"
            self.defect("memory-limit", op)
            return None
        except Exception as error:  # noqa: BLE001 - the very thing being looked for
            self.outcome.ops[op] = "internal"
            self.defect(f"internal:{type(error).__name__}", f"{op}: {error}")
            return None
        try:
            json.dumps(result.to_json())
        except Exception as error:  # noqa: BLE001
            self.defect(f"internal:to_json:{type(error).__name__}", f"{op}: {error}")
        self.outcome.ops[op] = f"ok:{getattr(result, 'status', 'inspected')}"
        if writes and getattr(result, "written", True):
            with open(self.path, "rb") as stream:
                self.expected = stream.read()
        else:
            self.check_unchanged(op)
        self.check_directory(op)
        return result

    def check_unchanged(self, op: str) -> None:
        with open(self.path, "rb") as stream:
            if stream.read() != self.expected:
                self.defect("changed-input", op)
        self.check_directory(op)

    def check_directory(self, op: str) -> None:
        left = set(os.listdir(self.directory)) - {os.path.basename(self.path), RESTORED}
        if left:
            self.defect("temp-file-left", f"{op}: {sorted(left)}")
            for name in left:
                os.unlink(os.path.join(self.directory, name))

    def run(self, options: dict) -> Outcome:
        api = self.api
        restored = os.path.join(self.directory, RESTORED)
        if self.call("restore -o", lambda: api.restore(self.path, output=restored)) is not None:
            os.unlink(restored)
        info = self.call("inspect", lambda: api.inspect(self.path))
        self.call("patch -n", lambda: api.patch(self.path, dry_run=True, **options))
        patched = self.call("patch", lambda: api.patch(self.path, **options), writes=True)
        if patched is not None and patched.written:
            back = self.call("restore", lambda: api.restore(self.path), writes=True)
            unpatched_input = info is not None and info.patch is None
            if back is None:
                self.defect("patched-but-not-restorable", self.outcome.ops["restore"])
            elif unpatched_input:
                with open(self.path, "rb") as stream:
                    if stream.read() != self.original:
                        self.defect("restore-not-exact", "patch, then restore, did not give the input back")
        return self.outcome

    def run_cli(self, main, options: dict) -> None:
        restored = os.path.join(self.directory, RESTORED)
        flags = [f"--loader-rel={p}" for p in options.get("loader_rel", ())]
        flags += [f"--loader={p}" for p in options.get("loader", ())]
        flags += ["--fallback-system"] if options.get("fallback_system") else []
        for args in (["inspect", "--json", "-j", "1", self.path], ["patch", "-n", "-v", "-j", "1", *flags, self.path],
                     ["restore", "-o", restored, self.path]):
            op = "cli " + " ".join(args[:2])
            code, out, err = capture(main, args)
            if code not in CLI_EXIT:
                self.defect("cli-exit-status", f"{op}: {code}: {err[-300:]}")
            if "internal error" in err or "Traceback" in err:
                self.defect("cli-internal-error", f"{op}: {err[-300:]}")
            if "--json" in args:
                try:
                    json.loads(out)
                except ValueError:
                    self.defect("cli-bad-json", f"{op}: {out[:200]!r}")
            self.check_unchanged(op)
        if os.path.exists(restored):
            os.unlink(restored)


def capture(main, args: list[str]) -> tuple[object, str, str]:
    """The command line run in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        main(args)  # the console script's entry point: relinterp.launch, then relinterp.cli
        code: object = 0
    except SystemExit as exit:
        code = exit.code
    except Exception as error:  # noqa: BLE001
        code = f"exception {type(error).__name__}: {error}"
    finally:
        sys.stdout, sys.stderr = saved
    return code, out.getvalue(), err.getvalue()


@dataclass
class Limits:
    seconds: int = 20
    memory: int = 1 << 30  # address space, bytes


@dataclass(frozen=True)
class Case:
    index: int
    data: bytes
    options: dict


def run_cases(cases: list[Case], path: str, limits: Limits, modules) -> list[dict]:
    """Run the cases, a batch at a time in a forked child; each case's report is
    {"ops", "defects", "rss_kib"}.  When a child dies (the time limit, a signal), the
    case it was running is run again alone, so that it is the one charged with it,
    and the rest of the batch goes on in a new child."""
    reports: list[dict] = []
    while len(reports) < len(cases):
        pending = cases[len(reports):]
        done, died, rss = _run_batch(pending, path, limits, modules)
        reports += [{**report, "rss_kib": rss} for report in done]
        if died is None:
            continue
        culprit = pending[len(done)]
        if len(pending) == 1:  # it ran alone: it is the one
            reports.append({"ops": {}, "defects": [died], "rss_kib": rss})
            continue
        alone, died_alone, rss_alone = _run_batch([culprit], path, limits, modules)
        report = alone[0] if alone else {"ops": {}, "defects": []}
        report["defects"].append(died_alone or ("died-after-other-cases", f"{died[0]}: {died[1]}"))
        reports.append({**report, "rss_kib": rss_alone})
    return reports


def _run_batch(cases: list[Case], path: str, limits: Limits, modules) -> tuple[list[dict], tuple | None, int]:
    """(the reports of the cases the child finished, why it died if it did, its peak RSS in KiB)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        os._exit(_child(cases, path, limits, modules, write_end))
    os.close(write_end)
    with os.fdopen(read_end, "rb") as stream:
        lines = stream.read().splitlines()
    _, status, usage = os.wait4(pid, 0)
    _clear(os.path.dirname(path))
    died = None
    if os.WIFSIGNALED(status):
        signal_number = os.WTERMSIG(status)
        died = ("hang", f"killed after {limits.seconds} s") if signal_number == signal.SIGALRM else \
            ("crash", f"signal {signal.Signals(signal_number).name}")
    elif len(lines) < len(cases):
        died = ("crash", f"exited early, status {os.WEXITSTATUS(status)}")
    return [json.loads(line) for line in lines], died, usage.ru_maxrss


def _child(cases: list[Case], path: str, limits: Limits, modules, out: int) -> int:
    api, errors, main = modules
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
    for case in cases:
        signal.alarm(limits.seconds)
        try:
            with open(path, "wb") as stream:
                stream.write(case.data)
            checker = Checker(api, errors, path, case.data)
            if case.index % CLI_EVERY == 0:  # first: the API's patch and restore change the file
                checker.run_cli(main, case.options)
            checker.run(case.options)
            report = {"ops": checker.outcome.ops, "defects": checker.outcome.defects}
        except BaseException as error:  # noqa: BLE001 - a defect of the fuzzer itself: reported, not hidden
            report = {"ops": {}, "defects": [("fuzzer", repr(error))]}
        os.write(out, json.dumps(report).encode() + b"\n")
        _clear(os.path.dirname(path))
    return 0


def _clear(directory: str) -> None:
    for name in os.listdir(directory):
        os.unlink(os.path.join(directory, name))
