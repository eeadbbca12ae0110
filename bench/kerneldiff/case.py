"""One case: which architecture, who runs it, and what the loader file is — its bytes
(mutated or not), mode and owner, or another type of file, perhaps held open for writing.
Case N is the same on every run with the same seed."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .mutate import mutate_headers


@dataclass(frozen=True)
class Identity:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]


ROOT = Identity("root", 0, 0, ())
USER = Identity("user", 65534, 65534, ())
MEMBER = Identity("member", 65532, 65532, (65531,))  # its supplementary group 65531 owns some loaders
IDENTITIES = ((ROOT, 55), (USER, 30), (MEMBER, 15))
OWNERS = (0, USER.uid, MEMBER.uid, 4321)
GROUPS = (0, USER.gid, MEMBER.groups[0], 4321)
MODES = (0o755, 0o644, 0o444, 0o400, 0o000, 0o711, 0o111, 0o700, 0o750, 0o705, 0o070, 0o007, 0o775, 0o010, 0o001,
         0o100, 0o751, 0o715, 0o4755, 0o2711)
KINDS = ("fifo", "socket", "directory", "char-device", "block-device", "symlink-loop")
CONTROL_EVERY = 400  # case 0, 400, 800...: the loader as it is, which both must run


@dataclass(frozen=True)
class Case:
    index: int
    arch: str
    identity: Identity
    kind: str  # "regular" or one of KINDS
    mode: int
    owner: int
    group: int
    writer: bool  # another process holds the file open for writing while it runs
    mutations: tuple[str, ...]
    data: bytes

    @property
    def family(self) -> str:
        """What the case varies, for the report."""
        if self.kind != "regular":
            return f"file type: {self.kind}"
        if self.writer:
            return "held open for writing"
        if (self.mode, self.owner, self.group) != (0o755, 0, 0):
            return "mode and owner"
        return "headers" if self.mutations else "control"

    def describe(self) -> str:
        parts = [self.arch, f"as {self.identity.name}", self.family]
        if self.kind == "regular":
            parts.append(f"mode {self.mode:o} owner {self.owner}:{self.group}")
        parts += list(self.mutations)
        return "; ".join(parts)


def make_case(seed: int, index: int, arches: list[tuple[str, int]], loaders: dict[str, bytes]) -> Case:
    rng = random.Random(f"{seed}:{index}")
    arch = rng.choices([a for a, _ in arches], [w for _, w in arches])[0]
    identity = rng.choices([i for i, _ in IDENTITIES], [w for _, w in IDENTITIES])[0]
    data, kind, mode, owner, group, writer, mutations = loaders[arch], "regular", 0o755, 0, 0, False, []
    pick = rng.random()
    if index % CONTROL_EVERY == 0:
        pass
    elif pick < 0.80:
        data, mutations = mutate_headers(rng, data)
    elif pick < 0.93:
        mode, owner, group = rng.choice(MODES), rng.choice(OWNERS), rng.choice(GROUPS)
        if rng.random() < 0.2:
            data, mutations = mutate_headers(rng, data)
    elif pick < 0.97:
        kind = rng.choice(KINDS)
    else:
        writer = True
    return Case(index, arch, identity, kind, mode, owner, group, writer, tuple(mutations), data)
