"""Finding artifact files without leaving the execution's workspace.

An ``artifacts.paths`` glob is matched by walking the directories under its literal
prefix. Every path is judged by where it really is (symlinks resolved): a prefix, file
or directory link outside the allowed roots (the workspace, and a ``--source``
checkout mounted at ``/data/repo``) is refused with a note naming it, and links are
never followed out. ``*``, ``?`` and ``[...]`` match within one path segment and ``**``
any number of segments; as with :func:`glob.glob`, wildcards do not match names
starting with a dot unless the pattern segment does.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assay.engine.workspace import is_inside

__all__ = ["ArtifactFinder", "FoundFile", "store_masked"]

_MAGIC = re.compile(r"[*?\[]")
_TEXT_LIMIT = 64 * 1024 * 1024  # larger files are copied as they are


@dataclass(frozen=True)
class FoundFile:
    """A file to store: where it really is, and its name among the artifacts."""

    source: Path
    name: Path


@dataclass
class ArtifactFinder:
    """Matches artifact globs inside ``roots``; ``refused`` collects what was turned down."""

    roots: Sequence[Path]
    refused: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.roots = [Path(os.path.realpath(root)) for root in self.roots]

    def inside(self, path: Path) -> bool:
        """Whether the real path ``path`` lies in one of the roots."""
        return is_inside(path, self.roots)

    def find(self, pattern: Path, base: Path, shown: str) -> list[FoundFile]:
        """Files matching the absolute glob ``pattern``, named relative to ``base`` when
        under it (else to the pattern's literal prefix); ``shown`` is the pattern as written."""
        parts = pattern.parts
        split = next((i for i, part in enumerate(parts) if _MAGIC.search(part)), len(parts))
        literal, wild = Path(*parts[:split]), [p for p in parts[split:] if p != "."]
        if ".." in wild:
            self.refused.append(f"{shown}: `..` after a wildcard")
            return []
        root = Path(os.path.realpath(literal))
        if not root.exists():
            return []
        if not self.inside(root):
            self.refused.append(f"{shown}: {root} is outside the workspace")
            return []
        real_base = Path(os.path.realpath(base))
        if not wild:
            if not root.is_file():
                return []
            name = root.relative_to(real_base) if root.is_relative_to(real_base) else root.name
            return [FoundFile(root, Path(name))]
        prefix = root.relative_to(real_base) if root.is_relative_to(real_base) else Path()
        matcher = re.compile(_translate(wild))
        depth = None if "**" in wild else len(wild)
        return [
            FoundFile(real, prefix / rel)
            for rel, real in self._walk(root, Path(), depth, {root}, shown)
            if matcher.fullmatch(rel.as_posix())
        ]

    def _walk(
        self, directory: Path, rel: Path, depth: int | None, seen: set[Path], shown: str
    ) -> Iterator[tuple[Path, Path]]:
        """(relative path, real path) of the files under ``directory``, links judged."""
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError:
            return
        for entry in entries:
            child = rel / entry.name
            real = Path(os.path.realpath(entry.path)) if entry.is_symlink() else Path(entry.path)
            if entry.is_symlink() and not self.inside(real):
                self.refused.append(f"{shown}: {entry.path} links to {real}, outside the workspace")
                continue
            if real.is_dir():
                deeper = depth is None or len(child.parts) < depth
                if deeper and real not in seen:
                    yield from self._walk(real, child, depth, seen | {real}, shown)
            elif real.is_file():
                yield child, real


def store_masked(source: Path, target: Path, mask: Callable[[str], str]) -> None:
    """Copy ``source`` (never through a link) to ``target`` with mode 0600, secrets masked
    when it is UTF-8 text (up to 64 MiB)."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with (
        os.fdopen(os.open(source, os.O_RDONLY | os.O_NOFOLLOW), "rb") as src,
        os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out,
    ):
        data = src.read(_TEXT_LIMIT + 1)
        if len(data) > _TEXT_LIMIT or b"\0" in data:
            out.write(data)
            shutil.copyfileobj(src, out)
            return
        try:
            out.write(mask(data.decode("utf-8")).encode("utf-8"))
        except UnicodeDecodeError:
            out.write(data)


def _translate(segments: Sequence[str]) -> str:
    """A regular expression for relative POSIX paths matching the glob ``segments``."""
    out: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            out.append(r"(?:(?!\.)[^/]+/)*" + (r"(?!\.)[^/]+" if last else ""))
            continue
        out.append(("" if segment.startswith(".") else r"(?!\.)") + _segment(segment))
        if not last:
            out.append("/")
    return "".join(out)


def _segment(segment: str) -> str:
    out, i = [], 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := segment.find("]", i + 2)) != -1:
            inner = segment[i + 1 : end]
            negate = inner[:1] in ("!", "^")
            body = re.escape(inner[1:] if negate else inner).replace(r"\-", "-")
            out.append(f"[{'^' if negate else ''}{body}]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)
