"""A case run under gdb with a breakpoint on `_dl_debug_state`, as a user debugging the
program would set it: pending on the loader's for the unpatched program, on the stub's
for the patched one (which makes the stub redirect the loader's to it).  gdb's report is
read into the same Side a difftrace run gives."""

from __future__ import annotations

import errno
import os
import re
import subprocess
from pathlib import Path

from .case import Case, Identity
from .files import loader_file
from .run import RUN_SECONDS, Programs, Side

SCRIPT = """set startup-with-shell off
set pagination off
set confirm off
set breakpoint pending on
break _dl_debug_state
commands
silent
continue
end
"""
SIGNALS = {"SIGSEGV": 11, "SIGBUS": 7, "SIGILL": 4, "SIGFPE": 8, "SIGABRT": 6, "SIGTRAP": 5, "SIGSYS": 31,
           "SIGKILL": 9}
ERRNOS = {os.strerror(number): number for number in errno.errorcode}
MAPPING = re.compile(r"^\s*0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(?:\S{4}\s+)?(\S.*)?$", re.M)


def as_user(who: Identity) -> list[str]:
    if not who.uid:
        return []
    groups = ",".join(map(str, who.groups or (who.gid,)))
    return ["setpriv", f"--reuid={who.uid}", f"--regid={who.gid}", f"--groups={groups}"]


def report_of(out: str) -> dict[str, str]:
    """gdb's words as a difftrace report."""
    if m := re.search(r"During startup program terminated with signal (SIG\w+)", out):
        return {"outcome": "exec-killed", "signal": str(SIGNALS.get(m[1], 0))}
    if re.search(r"During startup program exited with code \d+", out):
        said = re.search(r"^(?:warning: )?Error: (.*)$", out, re.M)  # gdb 13: "Cannot exec P", "Error: E"
        return {"outcome": "exec-error", "errno": str(ERRNOS.get(said[1] if said else "", 0))}
    if re.search(r"\[Inferior \d+ \(process \d+\) exited normally\]", out):
        return {"outcome": "exit", "status": "0"}
    if m := re.search(r"\[Inferior \d+ \(process \d+\) exited with code (\d+)\]", out):
        return {"outcome": "exit", "status": str(int(m[1], 8))}
    if m := re.search(r"Program (?:received|terminated with) signal (SIG\w+)", out):
        if m[1] == "SIGKILL":
            return {"outcome": "timeout"}
        pc = re.search(r"^\$1 = (0x[0-9a-f]+)", out, re.M)
        report = {"outcome": "signal", "signal": str(SIGNALS.get(m[1], 0)), "pc": pc[1] if pc else "0x0", "map": "-"}
        at = int(report["pc"], 16)
        for start, end, offset, name in MAPPING.findall(out):
            if int(start, 16) <= at < int(end, 16):
                report["map"] = f"{name.strip() or '[anon]'}@{at - int(start, 16) + int(offset, 16):#x}"
        return report
    return {"outcome": "timeout"} if "timed out" in out else {"outcome": "gdb-failed"}


def under_gdb(program: Path, who: Identity, scratch: Path) -> Side:
    script = scratch / "gdb-script"
    script.write_text(SCRIPT)
    script.chmod(0o644)
    argv = [*as_user(who), "gdb", "-batch", "-nx", "-q", "-x", str(script), "-ex", "run", "-ex", "p/x $pc",
            "-ex", "info proc mappings", "-ex", "info breakpoints", "-ex", "kill", str(program)]
    try:
        done = subprocess.run(["timeout", "-s", "KILL", str(RUN_SECONDS * 10), *argv], capture_output=True,
                              timeout=RUN_SECONDS * 12, cwd="/")
        out, err = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        out, err = "timed out", ""
    report = report_of(out + err)
    hits = re.search(r"breakpoint already hit (\d+) time", out)
    report["bp"] = hits[1] if hits else "0"
    # What the program wrote: gdb's own lines are on stderr or start with gdb's markers.
    program_out = "".join(line for line in out.splitlines(keepends=True) if line == "hello, world\n")
    return Side(report, program_out, err)


def run_case_under_gdb(case: Case, programs: Programs, scratch: Path) -> dict[str, Side]:
    with loader_file(case, programs.loader, scratch / "backing"):
        return {"kernel+gdb": under_gdb(programs.kernel, case.identity, scratch),
                "stub+gdb": under_gdb(programs.stub, case.identity, scratch)}
