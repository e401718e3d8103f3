"""Failing (and flaky) tests as check-run annotations on the lines that define them.

GitHub wants a path relative to the repository root and a 1-based line.  JUnit reports say
less, and differently: pytest (``junit_family=xunit1``) writes ``file`` relative to its
rootdir, which may be a subfolder of the repository, and a 0-based ``line``; other reporters
write absolute paths from another machine, or nothing.  So a path is resolved against the
checked-out workspace (``GITHUB_WORKSPACE``):

1. the ``file`` of the test case: as is, else the longest of its trailing parts that is a
   file in the workspace, else the one workspace file that ends with it;
2. without ``file``, a pytest-style ``classname`` (``tests.test_api.TestX``): the longest
   dotted prefix that names a ``.py`` file, found the same way.

The line is where ``def <test name>`` is in that file (parameters ``[...]`` dropped); if it
is not found, the reported line (at least 1).  A test whose file cannot be found in the
workspace is not annotated: an annotation on a path the repository does not have helps
nobody.  At most :data:`MAX_ANNOTATIONS` are made, failures first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from assay.results.report_data import Report, TestOutcome

__all__ = ["MAX_ANNOTATIONS", "Annotations", "SourceIndex", "build_annotations"]

MAX_ANNOTATIONS = 50
"""GitHub takes at most 50 annotations per check-run request."""

MAX_MESSAGE = 4000
MAX_TITLE = 255
_SKIP_DIRS = frozenset(
    {".git", ".hg", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".mypy_cache"}
)
_MAX_FILES = 50_000


class SourceIndex:
    """Files of the workspace, to map reported paths onto repository paths."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._by_name: dict[str, list[str]] | None = None
        self._lines: dict[str, list[str] | None] = {}

    def resolve(self, reported: str) -> str | None:
        """The workspace-relative POSIX path of a reported file, or None."""
        parts = _parts(reported)
        if not parts:
            return None
        # longest trailing part first: "/runner/ws/backend/tests/t.py" -> "backend/tests/t.py"
        for start in range(len(parts)):
            candidate = "/".join(parts[start:])
            if self._is_file(candidate):
                return candidate
        matches = [
            path
            for path in self._names().get(parts[-1], [])
            if path == "/".join(parts) or path.endswith("/" + "/".join(parts))
        ]
        return matches[0] if len(matches) == 1 else None

    def from_classname(self, classname: str) -> str | None:
        """The module file of a pytest classname (``pkg.test_mod.TestClass``), or None."""
        names = [n for n in classname.split(".") if n]
        if not names or not all(n.isidentifier() for n in names):
            return None
        for end in range(len(names), 0, -1):
            found = self.resolve("/".join(names[:end]) + ".py")
            if found is not None:
                return found
        return None

    def definition_line(self, path: str, test_name: str) -> int | None:
        """The 1-based line of ``def <test_name>`` in ``path``, or None."""
        lines = self._read(path)
        if lines is None:
            return None
        bare = test_name.split("[", 1)[0]
        if not bare.isidentifier():
            return None
        pattern = re.compile(rf"^\s*(?:async\s+)?def\s+{re.escape(bare)}\s*\(")
        for number, line in enumerate(lines, start=1):
            if pattern.match(line):
                return number
        return None

    def _is_file(self, relative: str) -> bool:
        path = self.root / relative
        try:
            return path.is_file() and path.resolve().is_relative_to(self.root.resolve())
        except OSError:
            return False

    def _names(self) -> dict[str, list[str]]:
        if self._by_name is None:
            self._by_name = {}
            for relative in _walk(self.root):
                self._by_name.setdefault(relative.rsplit("/", 1)[-1], []).append(relative)
        return self._by_name

    def _read(self, relative: str) -> list[str] | None:
        if relative not in self._lines:
            try:
                text = (self.root / relative).read_text(encoding="utf-8", errors="replace")
            except OSError:
                self._lines[relative] = None
            else:
                self._lines[relative] = text.splitlines()
        return self._lines[relative]


def _parts(reported: str) -> list[str]:
    path = PureWindowsPath(reported) if "\\" in reported else PurePosixPath(reported)
    return [p for p in path.parts if p not in ("/", "\\", ".", "..") and not p.endswith(":\\")]


def _walk(root: Path) -> Iterator[str]:
    count = 0
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        base = Path(directory).relative_to(root).as_posix()
        for name in sorted(files):
            yield name if base == "." else f"{base}/{name}"
            count += 1
            if count >= _MAX_FILES:
                return


@dataclass(slots=True)
class Annotations:
    """The annotations made, and how many failing tests got none."""

    items: list[dict[str, Any]]
    unplaced: int
    """Failing tests without a file found in the workspace."""
    dropped: int
    """Annotations left out beyond :data:`MAX_ANNOTATIONS`."""


def build_annotations(report: Report, workspace: Path) -> Annotations:
    """Annotations for the failing tests (``failure``), then the flaky ones (``warning``)."""
    index = SourceIndex(workspace)
    several = len(report.executions) > 1
    made: list[dict[str, Any]] = []
    unplaced = 0
    for item in report.executions:
        for test in item.failing:
            where = _locate(index, test)
            if where is None:
                unplaced += 1
                continue
            prefix = f"{item.execution.name}: " if several else ""
            title = f"{prefix}{test.label} {test.status}"
            made.append(_annotation(where, "failure", title, test.message or f"{test.status}"))
    for item in report.executions:
        for test in item.flaky:
            where = _locate(index, test)
            if where is None:
                continue
            prefix = f"{item.execution.name}: " if several else ""
            failures = test.failed_attempts
            text = f"passed on attempt {len(test.attempts)} after {failures} failed attempt(s)"
            message = next((a.message for a in reversed(test.attempts) if a.message), None)
            if message:
                text += f"\n\n{message}"
            made.append(_annotation(where, "warning", f"{prefix}{test.label} is flaky", text))
    dropped = max(0, len(made) - MAX_ANNOTATIONS)
    return Annotations(made[:MAX_ANNOTATIONS], unplaced, dropped)


def _locate(index: SourceIndex, test: TestOutcome) -> tuple[str, int] | None:
    path = index.resolve(test.file) if test.file else None
    if path is None and not test.file:
        path = index.from_classname(test.classname)
    if path is None:
        return None
    line = index.definition_line(path, test.name)
    return path, line if line is not None else max(1, test.line or 1)


def _annotation(where: tuple[str, int], level: str, title: str, message: str) -> dict[str, Any]:
    path, line = where
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    if len(title) > MAX_TITLE:
        title = title[: MAX_TITLE - 1] + "…"
    return {
        "path": path,
        "start_line": line,
        "end_line": line,
        "annotation_level": level,
        "title": title,
        "message": message,
    }
