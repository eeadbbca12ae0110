"""The loader a program carries in its own file (patch --embed-loader): checking the one
given, telling whether a patched file carries it already, and saying which one it is
(family, SONAME, version, digest) for `patch` and `inspect`."""

from __future__ import annotations

from .elf.embedded import embedded_loader_bytes
from .elf.executable import Executable
from .errors import LoaderFileError, RelinterpError
from .loaders.family import other_libc
from .report import EmbeddedLoader
from .rewrite.embed import LoaderImage, embedded_image, place_loader, read_loader_image


def loader_to_embed(program: Executable, path: str) -> LoaderImage:
    """The loader at `path`, checked for `program`: a musl program gets musl's loader, a
    glibc program glibc's (one of another libc would start, then fail)."""
    from .loaders.rules import family_of_bytes  # glibc's rules import subprocess: not for a plain patch

    image = read_loader_image(program, path)
    family = family_of_bytes(image.data, image.model.soname)
    wanted = other_libc(program.interp, family)
    if wanted is not None:
        raise LoaderFileError(program.path, f"--embed-loader {path}: {family}'s loader, the program is a {wanted} "
                                            f"program (PT_INTERP {program.interp})")
    return image


def carries(exe: Executable, image: LoaderImage | None, source=None) -> bool:
    """Whether the patched `exe` (read from `source`, the file open) carries the loader
    `image` (for None: none)."""
    try:
        data = embedded_loader_bytes(exe, source)
    except OSError:
        return False
    return data is None if image is None else data == image.data


def placed(original: Executable, image: LoaderImage) -> EmbeddedLoader:
    """The loader `image` as patching `original` with it places it."""
    embedding = place_loader(original, image)
    return describe(image, embedding.offset, embedding.base)


def carried(exe: Executable, source=None) -> EmbeddedLoader | None:
    """The loader the patched `exe` (read from `source`, the file open, else from its
    path) carries, as far as its bytes still say which one."""
    record = exe.patch.config.embedded if exe.patch is not None else None
    if record is None:
        return None
    try:
        image = embedded_image(exe, source)
    except (OSError, RelinterpError):
        return EmbeddedLoader(family=None, soname=None, version=None, sha256="", size=record.size,
                              offset=record.offset, base=record.base)
    return describe(image, record.offset, record.base)


def describe(image: LoaderImage, offset: int, base: int) -> EmbeddedLoader:
    """Which loader `image` is, and where it lies in the program."""
    from .loaders.rules import family_of_bytes, loader_version

    family = family_of_bytes(image.data, image.model.soname)
    return EmbeddedLoader(family=family, soname=image.model.soname, version=loader_version(image.data, family),
                          sha256=image.sha256, size=len(image.data), offset=offset, base=base)
