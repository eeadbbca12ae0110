"""What the tests need to know about each architecture a stub is built for: its musl C
compiler, where Debian keeps its musl loader, and how to run its programs on this
machine (natively, or under qemu-user, which emulates /proc/self/exe for the guest).

Debian 12 has musl for amd64, arm64, i386, armhf, ppc64el and s390x (multiarch packages).
riscv64's comes from Debian 13 through scripts/musl-riscv64.sh into build/musl-riscv64/.
s390x is the one big-endian machine among them.
For glibc, each cross gcc links against Debian's cross glibc in /usr/<triplet>/lib
(libc6-dev-<arch>-cross), whose loader and libc.so.6 the tests ship with the programs.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RISCV64_MUSL = ROOT / "build" / "musl-riscv64"


@dataclass(frozen=True)
class Target:
    arch: str  # the stub's name: relinterp/_stubs/<arch>.bin
    cc: tuple[str, ...]  # a C compiler that builds musl programs
    musl_dir: Path  # holds the musl loader, libc.so; the tests hide it
    qemu: str | None  # None: runs natively
    install: str  # what provides all this
    sysroot: Path | None = None  # qemu -L: where the loader's absolute path is found

    @property
    def loader(self) -> Path:
        return self.musl_dir / "libc.so"

    def command(self, argv) -> list:
        """argv as a command line that runs it on this machine."""
        if self.qemu is None:
            return list(argv)
        return [self.qemu, *(["-L", self.sysroot] if self.sysroot else []), *argv]

    def missing(self) -> str | None:
        """Why programs for this target cannot be built and run here, or None."""
        if shutil.which(self.cc[0]) is None:
            return f"{self.cc[0]} is missing ({self.install})"
        specs = [Path(self.cc[i + 1]) for i, arg in enumerate(self.cc[:-1]) if arg == "-specs"]
        for path in [*specs, self.loader]:
            if not path.exists():
                return f"{path} is missing ({self.install})"
        if self.qemu and shutil.which(self.qemu) is None:
            return f"{self.qemu} is missing (apt-get install qemu-user)"
        return None


def _multiarch(arch: str, gcc: str, triplet: str, debian: str) -> Target:
    """A Debian 12 multiarch musl with its cross compiler (package gcc-<gcc's triplet>)."""
    return Target(
        arch=arch,
        cc=(f"{gcc}-gcc", "-specs", f"/usr/lib/{triplet}/musl-gcc.specs"),
        musl_dir=Path(f"/usr/lib/{triplet}"),
        qemu=f"qemu-{arch}",
        install=f"dpkg --add-architecture {debian}; apt-get install musl:{debian} musl-dev:{debian} gcc-{gcc}",
    )


TARGETS = {
    "x86_64": Target("x86_64", ("musl-gcc",), Path("/usr/lib/x86_64-linux-musl"), None,
                     "apt-get install musl-tools"),
    "aarch64": _multiarch("aarch64", "aarch64-linux-gnu", "aarch64-linux-musl", "arm64"),
    "i386": _multiarch("i386", "i686-linux-gnu", "i386-linux-musl", "i386"),
    "arm": _multiarch("arm", "arm-linux-gnueabihf", "arm-linux-musleabihf", "armhf"),
    "ppc64le": _multiarch("ppc64le", "powerpc64le-linux-gnu", "powerpc64le-linux-musl", "ppc64el"),
    "s390x": _multiarch("s390x", "s390x-linux-gnu", "s390x-linux-musl", "s390x"),
    "riscv64": Target(
        arch="riscv64",
        cc=("riscv64-linux-gnu-gcc", "-specs", str(RISCV64_MUSL / "musl-gcc.specs")),
        musl_dir=RISCV64_MUSL / "root" / "usr" / "lib" / "riscv64-linux-musl",
        qemu="qemu-riscv64",
        install="apt-get install gcc-riscv64-linux-gnu; bash scripts/musl-riscv64.sh",
        sysroot=RISCV64_MUSL / "root",
    ),
}


@dataclass(frozen=True)
class CrossGlibc:
    """Debian's glibc for another architecture (libc6-<debian>-cross), as gcc-<triplet>
    links against it, and what could give a guest program a glibc other than its bundle's."""

    arch: str  # the stub's name, and qemu-<arch>
    triplet: str  # gcc-<triplet>; the libraries are in /usr/<triplet>/lib
    loader_name: str  # the file name of PT_INTERP, e.g. ld-linux-aarch64.so.1
    debian: str  # Debian's architecture name
    multiarch: str  # Debian's directory for it: /usr/lib/<multiarch> (i386: not i686)
    interp_dir: str = "/lib"  # where PT_INTERP names the loader (ppc64le: /lib64)

    @property
    def cc(self) -> str:
        return f"{self.triplet}-gcc"

    @property
    def qemu(self) -> str:
        return f"qemu-{self.arch}"

    @property
    def lib_dir(self) -> Path:
        return Path(f"/usr/{self.triplet}/lib")

    @property
    def install(self) -> str:
        return f"apt-get install gcc-{self.triplet} libc6-dev-{self.debian}-cross qemu-user"

    @property
    def interp(self) -> str:
        """PT_INTERP of the programs its gcc links."""
        return f"{self.interp_dir}/{self.loader_name}"

    def hide_script(self) -> str:
        """Shell commands that, in a private mount namespace, leave the guest no glibc but
        its bundle's: each place of `hidden` made an empty tmpfs, then, wherever else
        PT_INTERP still leads (libc6-i386 links /lib/ld-linux.so.2 to /lib32/), the
        directory it ends in; and a check that PT_INTERP leads nowhere (exit 99 if it does)."""
        mounts = "".join(f'mount -t tmpfs none "{place}" && ' for place in self.hidden)
        keep = " ".join(sorted(ESSENTIAL))
        return (f'{mounts}interp={self.interp}; '
                'if [ -e "$interp" ]; then d=$(dirname "$(readlink -f "$interp")"); '
                f'case " {keep} " in *" $d "*) ;; *) mount -t tmpfs none "$d" ;; esac; fi; '
                'if [ -e "$interp" ]; then echo "cannot hide $interp" >&2; exit 99; fi; ')

    @property
    def hidden(self) -> tuple[Path, ...]:
        """Where a glibc for this machine may be found, to be hidden from the guest: the cross
        glibc, the multiarch one (libc6:<debian>, which also makes PT_INTERP's /lib/<loader>
        resolve) and qemu's default prefix for the loader's path (no -L, no QEMU_LD_PREFIX)."""
        places = {self.lib_dir, Path(f"/usr/lib/{self.multiarch}"), Path(f"/lib/{self.multiarch}"),
                  Path(f"/etc/qemu-binfmt/{self.arch}")}
        return tuple(sorted({Path(os.path.realpath(p)) for p in places if p.is_dir()}))

    def missing(self) -> str | None:
        """Why glibc programs for this machine cannot be built and run here, or None."""
        for tool in (self.cc, self.qemu):
            if shutil.which(tool) is None:
                return f"{tool} is missing ({self.install})"
        for name in (self.loader_name, "libc.so.6", "libc.so", "Scrt1.o", "crt1.o"):
            if not (self.lib_dir / name).exists():
                return f"{self.lib_dir / name} is missing ({self.install})"
        return None


# Directories the namespace itself needs (the host's shell, unshare, qemu): never hidden.
ESSENTIAL = frozenset({"/", "/lib", "/lib64", "/usr", "/usr/lib", "/usr/lib64", "/usr/bin", "/bin",
                       "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu"})
CROSS_GLIBC = {
    "aarch64": CrossGlibc("aarch64", "aarch64-linux-gnu", "ld-linux-aarch64.so.1", "arm64",
                          "aarch64-linux-gnu"),
    "i386": CrossGlibc("i386", "i686-linux-gnu", "ld-linux.so.2", "i386", "i386-linux-gnu"),
    "arm": CrossGlibc("arm", "arm-linux-gnueabihf", "ld-linux-armhf.so.3", "armhf", "arm-linux-gnueabihf"),
    "riscv64": CrossGlibc("riscv64", "riscv64-linux-gnu", "ld-linux-riscv64-lp64d.so.1", "riscv64",
                          "riscv64-linux-gnu"),
    "ppc64le": CrossGlibc("ppc64le", "powerpc64le-linux-gnu", "ld64.so.2", "ppc64el", "powerpc64le-linux-gnu",
                          "/lib64"),
    "s390x": CrossGlibc("s390x", "s390x-linux-gnu", "ld64.so.1", "s390x", "s390x-linux-gnu"),
}
