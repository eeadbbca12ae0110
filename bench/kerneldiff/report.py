"""The tally of a differential run, and its report (bench/RESULTS-differential.md)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from .judge import DOCUMENTED

EXAMPLES = 4


@dataclass
class Tally:
    cases: int = 0
    arches: Counter = field(default_factory=Counter)
    families: Counter = field(default_factory=Counter)
    pairs: dict = field(default_factory=lambda: defaultdict(Counter))  # mode -> (kernel, stub) -> count
    agreed: Counter = field(default_factory=Counter)  # mode -> cases in agreement
    documented: dict = field(default_factory=lambda: defaultdict(Counter))  # mode -> difference -> count
    undocumented: dict = field(default_factory=lambda: defaultdict(Counter))  # mode -> verdict -> count
    examples: dict = field(default_factory=lambda: defaultdict(list))  # "mode: verdict" -> lines
    hooked: Counter = field(default_factory=Counter)  # mode -> runs where the debugger's breakpoint was reached
    errors: list = field(default_factory=list)

    def add(self, result: dict) -> None:
        if "error" in result:
            self.errors.append(result)
            return
        mode = result["mode"]
        if mode == "ptrace":
            self.cases += 1
            self.arches[result["arch"]] += 1
            self.families[result["family"]] += 1
        for name, (kernel, stub, verdict, documented, hooked) in result["comparisons"].items():
            self.pairs[name][(kernel[0], stub[0])] += 1
            self.hooked[name] += hooked
            if verdict is None:
                self.agreed[name] += 1
            elif documented:
                self.documented[name][documented] += 1
            else:
                self.undocumented[name][verdict] += 1
                key = f"{name}: {verdict}"
                if len(self.examples[key]) < EXAMPLES:
                    self.examples[key].append(f"case {result['index']}: {result['case']} — kernel: {kernel[0]} "
                                              f"({kernel[1]}); stub: {stub[0]} ({stub[1]})")

    def failures(self) -> int:
        return sum(sum(c.values()) for c in self.undocumented.values()) + len(self.errors)

    def as_json(self) -> dict:
        return {
            "cases": self.cases, "arches": dict(self.arches), "families": dict(self.families),
            "pairs": {m: {f"{k} / {s}": n for (k, s), n in c.items()} for m, c in self.pairs.items()},
            "agreed": dict(self.agreed), "documented": {m: dict(c) for m, c in self.documented.items()},
            "undocumented": {m: dict(c) for m, c in self.undocumented.items()}, "hooked": dict(self.hooked),
            "examples": dict(self.examples), "errors": self.errors[:20],
        }


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def percent(n: int, total: int) -> str:
    return f"{100 * n / total:.2f} %" if total else "-"


def render(tally: Tally, command: str, machine: dict[str, str], elapsed: float) -> str:
    total_runs = {m: sum(c.values()) for m, c in tally.pairs.items()}
    sections = []
    for mode, pairs in tally.pairs.items():
        ordered = sorted(pairs.items(), key=lambda item: -item[1])
        rows = [[k, s, str(n), percent(n, total_runs[mode])] for (k, s), n in ordered]
        documented = [[name, str(n)] for name, n in tally.documented[mode].items()] or [["none", "0"]]
        undocumented = [[v, str(n)] for v, n in tally.undocumented[mode].items()] or [["none", "0"]]
        sections.append(f"""### {mode}

{total_runs[mode]} cases: {tally.agreed[mode]} agree ({percent(tally.agreed[mode], total_runs[mode])}); the \
debugger's breakpoint was reached in {tally.hooked[mode]} of them.

{table(["kernel", "stub", "cases", "share"], rows)}

Documented differences:

{table(["difference", "cases"], documented)}

Undocumented disagreements:

{table(["disagreement", "cases"], undocumented)}

""")
    examples = "\n".join(f"- {key}\n" + "\n".join(f"  - {line}" for line in lines)
                         for key, lines in tally.examples.items()) or "none"
    machine_rows = table(["", ""], [[k, v] for k, v in machine.items()])
    docs = "\n".join(f"- {d.name}: “{d.doc}”" for d in DOCUMENTED)
    return f"""# The stub against the kernel: a differential run

Produced by `{command}` in {elapsed:.0f} s.
How it works: [README.md](README.md#the-stub-against-the-kernel-benchdifferentialpy).

{machine_rows}

## Result

{tally.cases} cases ({", ".join(f"{a}: {n}" for a, n in sorted(tally.arches.items()))}); \
{tally.failures()} undocumented disagreements or faults in the stub's code; {len(tally.errors)} harness errors.

Families: {", ".join(f"{f}: {n}" for f, n in sorted(tally.families.items()))}.

{"".join(sections)}
## Undocumented, with cases to replay

{examples}

## Documented differences (docs/robustness.md)

{docs}
"""
