"""``--source DIR`` for a remote server: the checkout packed as a .tar.gz.

What goes in is what git would commit: in a git work tree, the files ``git ls-files
--cached --others --exclude-standard`` lists under DIR (tracked ones, and untracked ones
not ignored by .gitignore, .git/info/exclude or the global excludes); elsewhere every file
but ``.git``. A symbolic link is kept as a link when it points inside DIR and refused when
it points out of it (its target would not exist on the server, or would be the server's).
The files' total size is limited (:data:`DEFAULT_LIMIT`, ``ASSAY_SOURCE_LIMIT``).
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from assay.errors import DefinitionError, InfrastructureError

__all__ = ["DEFAULT_LIMIT", "LIMIT_VARIABLE", "pack_source", "source_limit"]

DEFAULT_LIMIT = 100 * 1024 * 1024
"""Bytes of files a --source upload may hold (before compression)."""
LIMIT_VARIABLE = "ASSAY_SOURCE_LIMIT"
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def source_limit(environ: Mapping[str, str]) -> int:
    """The upload limit in bytes: ``ASSAY_SOURCE_LIMIT`` (``500000``, ``20M``, ``1G``)."""
    text = environ.get(LIMIT_VARIABLE, "").strip().upper().removesuffix("B")
    if not text:
        return DEFAULT_LIMIT
    unit = text[-1] if text[-1] in _UNITS else ""
    number = text[: len(text) - len(unit)].strip()
    if not number.isdigit():
        raise DefinitionError(
            f"{LIMIT_VARIABLE}={environ[LIMIT_VARIABLE]!r}: expected bytes, e.g. 500000, 20M, 1G"
        )
    return int(number) * _UNITS[unit]


def pack_source(directory: Path, limit: int) -> Path:
    """A temporary .tar.gz of ``directory`` (the caller removes it); exit 2 naming the size
    when the files exceed ``limit`` bytes, or naming a link that points out of it."""
    root = directory.resolve()
    if not root.is_dir():
        raise DefinitionError(f"--source {directory}: not a directory")
    fd, name = tempfile.mkstemp(prefix="assay-source-", suffix=".tar.gz")
    os.close(fd)
    archive = Path(name)
    try:
        _write(root, directory, archive, limit)
    except BaseException:
        archive.unlink(missing_ok=True)
        raise
    return archive


def _write(root: Path, given: Path, archive: Path, limit: int) -> None:
    listed = list(_listed(root))
    total = 0
    for relative in listed:  # checked before anything is written
        path = root / relative
        if path.is_symlink():
            _inside_link(root, given, relative)
        elif path.is_file():
            total += path.stat().st_size
    if total > limit:
        raise DefinitionError(
            f"--source {given}: {_size(total)} of files ({total} bytes) exceeds the limit of "
            f"{_size(limit)} ({LIMIT_VARIABLE}={limit}); ignore build outputs in .gitignore "
            "or raise the limit"
        )
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        for relative in listed:
            path = root / relative
            info = tar.gettarinfo(str(path), arcname=relative)
            if info.issym():
                info.linkname = _inside_link(root, given, relative)
                tar.addfile(info)
            elif info.isfile():
                with path.open("rb") as data:
                    tar.addfile(info, data)
            # sockets, fifos and devices are left out


def _inside_link(root: Path, given: Path, relative: str) -> str:
    """The link's target, relative, when it resolves inside ``root``; else exit 2."""
    link = root / relative
    target = Path(os.path.realpath(link))
    if not target.is_relative_to(root):
        raise DefinitionError(
            f"--source {given}: {relative} is a link to {os.readlink(link)}, outside the "
            "directory; it would not exist on the server (copy the file or remove the link)"
        )
    return os.path.relpath(target, link.parent)


def _listed(root: Path) -> Iterator[str]:
    """Paths (relative, POSIX) of what to pack, sorted."""
    files = _git_files(root)
    if files is None:
        files = _all_files(root)
    for relative in sorted(files):
        path = root / relative
        if path.is_symlink() or path.is_file():
            yield relative
        elif path.is_dir():  # a submodule: its files, all of them
            yield from (
                f"{relative}/{inner}" for inner in sorted(_all_files(path)) if inner != ".git"
            )


def _git_files(root: Path) -> list[str] | None:
    """What git lists under ``root`` (None when ``root`` is in no work tree or git is
    missing)."""
    try:
        inside = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"],
            cwd=root,
            capture_output=True,
            text=True,
        )
    except OSError:
        return None
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return None
    done = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
    )
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise InfrastructureError(f"--source {root}: git ls-files failed: {message}")
    return [name for name in done.stdout.decode("utf-8", "surrogateescape").split("\0") if name]


def _all_files(root: Path) -> list[str]:
    found = []
    for current, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        base = Path(current).relative_to(root)
        for name in files + [d for d in dirs if (Path(current) / d).is_symlink()]:
            found.append((base / name).as_posix())
    return found


def _size(count: int) -> str:
    for unit in ("GB", "MB", "KB"):
        scale = _UNITS[unit[0]]
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"
