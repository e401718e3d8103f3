"""Source archives: a ``.tar.gz`` of a checkout uploaded with a queued run, checked, then
extracted for the run (``/data/repo``).

An archive comes from a client: it is refused whole (``DefinitionError`` naming the member)
when a member has an absolute name or climbs out with ``..``, when a link points outside the
archive or is a hard link, when a member is not a file, directory or symbolic link (devices,
FIFOs), or when the archive holds more than :data:`MAX_MEMBERS` members or
:data:`MAX_BYTES` bytes once extracted. Extraction checks again (``tarfile``'s ``data``
filter, which also drops permission bits that would matter: setuid, group/other write).
"""

from __future__ import annotations

import posixpath
import tarfile
from pathlib import Path

from assay.errors import DefinitionError

__all__ = ["MAX_BYTES", "MAX_MEMBERS", "check_archive", "extract_archive"]

MAX_BYTES = 1 << 30
"""Extracted size at most (1 GiB)."""
MAX_MEMBERS = 200_000
"""Members at most."""


def _inside(name: str) -> bool:
    """True when the relative ``name`` stays inside the archive's root."""
    if not name or name.startswith("/"):
        return False
    normal = posixpath.normpath(name)
    return normal != ".." and not normal.startswith("../")


def _check_member(member: tarfile.TarInfo) -> None:
    if not _inside(member.name):
        raise ValueError("its name is absolute or climbs out of the archive")
    if member.islnk():
        raise ValueError("hard links are not accepted")
    if member.issym():
        target = member.linkname
        joined = posixpath.join(posixpath.dirname(member.name), target)
        if target.startswith("/") or not _inside(joined):
            raise ValueError(f"it links to {target!r}, outside the archive")
    elif not (member.isfile() or member.isdir()):
        raise ValueError("only files, directories and symbolic links are accepted")


def check_archive(path: Path) -> int:
    """Check every member of the ``.tar.gz`` at ``path`` (see the module doc); return the
    number of members."""
    total = 0
    count = 0
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                count += 1
                total += max(member.size, 0)
                try:
                    _check_member(member)
                except ValueError as exc:
                    message = f"source archive {path}: {member.name!r}: {exc}"
                    raise DefinitionError(message) from None
                if count > MAX_MEMBERS or total > MAX_BYTES:
                    raise DefinitionError(
                        f"source archive {path}: more than {MAX_MEMBERS} members or "
                        f"{MAX_BYTES >> 20} MiB extracted"
                    )
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DefinitionError(f"source archive {path}: not a readable .tar.gz ({exc})") from None
    return count


def extract_archive(path: Path, dest: Path) -> None:
    """Extract the archive at ``path`` into the directory ``dest`` (created), checking it
    first and again member by member."""
    check_archive(path)
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        with tarfile.open(path, "r:gz") as archive:
            archive.extractall(dest, filter="data")
    except (tarfile.TarError, EOFError) as exc:
        raise DefinitionError(f"source archive {path}: {exc}") from None
