"""Failing (and flaky) tests as check-run annotations on the lines that failed.

GitHub wants a path relative to the repository root and a 1-based line.  JUnit reports say
less, and differently: pytest (``junit_family=xunit1``) writes ``file`` relative to its
rootdir, which may be a subfolder of the repository, and a 0-based ``line``; other reporters
write absolute paths from another machine, or nothing.  So a path is resolved against the
checked-out workspace (``GITHUB_WORKSPACE``):

1. the ``file`` of the test case: as is, else the longest of its trailing parts that is a
   file in the workspace, else the one workspace file that ends with it;
2. without ``file``, a pytest-style ``classname`` (``tests.test_api.TestX``): the longest
   dotted prefix that names a ``.py`` file, found the same way.

The line is where the test failed, read from its stored trace (the text of its failure):
the ``path:line:`` entries of pytest's long and short reports (``tests/test_api.py:42:
AssertionError``, ``tests/helpers.py:12: in check``) and the ``File "path", line N`` entries
of Python's own tracebacks, each path resolved as above (files in installed packages, the
standard library or skipped folders such as ``.venv`` excepted) and each line within its
file.  Of these entries the last one in the test's own file wins (for a failure inside a
helper, the test's line that called it), else the last one in any file of the workspace (a
failing fixture in ``conftest.py``).  Without any, the line is where ``def <test name>`` is
in the test's file (parameters ``[...]`` dropped), else the reported line (at least 1).  A
test placed in no file of the workspace is not annotated: an annotation on a path the
repository does not have helps nobody.  At most :data:`MAX_ANNOTATIONS` are made, failures
first.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from assay.reports.model import Report, TestOutcome

__all__ = ["MAX_ANNOTATIONS", "Annotations", "SourceIndex", "build_annotations"]

MAX_ANNOTATIONS = 50
"""GitHub takes at most 50 annotations per check-run request."""

MAX_MESSAGE = 4000
MAX_TITLE = 255
_SKIP_DIRS = frozenset(
    {".git", ".hg", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".mypy_cache"}
)
_MAX_FILES = 50_000
# pytest: "path:line: message" (long report; the failing entry names the exception, the
# others nothing), "path:line: in function" (short report); Python: File "path", line N, in f
_LOCATION = re.compile(
    r"^(?:(?P<path>(?:[A-Za-z]:)?[^\s:>\"][^:\n]*?):(?P<line>\d+):(?: |$)"
    r'|[ \t]*File "(?P<python>[^"\n]+)", line (?P<python_line>\d+))',
    re.MULTILINE,
)
_PACKAGE_DIRS = frozenset({"site-packages", "dist-packages"})
_STDLIB_DIR = re.compile(r"python\d[\d.]*")


class SourceIndex:
    """Files of the workspace, to map reported paths onto repository paths."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._by_name: dict[str, list[str]] | None = None
        self._lines: dict[str, list[str] | None] = {}
        self._resolved: dict[str, str | None] = {}
        self._in_trace: dict[str, str | None] = {}

    def resolve(self, reported: str) -> str | None:
        """The workspace-relative POSIX path of a reported file, or None."""
        if reported not in self._resolved:
            self._resolved[reported] = self._resolve(_parts(reported))
        return self._resolved[reported]

    def _resolve(self, parts: list[str]) -> str | None:
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

    def failure_line(self, trace: str, test_path: str | None) -> tuple[str, int] | None:
        """Where ``trace`` says the failure is: its last location in the workspace that is in
        ``test_path``, else its last one in any file; None without any."""
        in_test: tuple[str, int] | None = None
        anywhere: tuple[str, int] | None = None
        for match in _LOCATION.finditer(trace):
            path = self._trace_path(match["path"] or match["python"])
            if path is None:
                continue
            line = int(match["line"] or match["python_line"])
            lines = self._read(path)
            if lines is None or not 1 <= line <= len(lines):
                continue
            anywhere = (path, line)
            if path == test_path:
                in_test = anywhere
        return in_test or anywhere

    def _trace_path(self, reported: str) -> str | None:
        """A path named in a trace, resolved; None for installed packages, the standard
        library and skipped folders (a ``.venv`` inside the workspace)."""
        if reported not in self._in_trace:
            parts = _parts(reported)
            path = None if _is_library(parts) else self.resolve(reported)
            if path is not None and _SKIP_DIRS.intersection(path.split("/")[:-1]):
                path = None
            self._in_trace[reported] = path
        return self._in_trace[reported]

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


def _is_library(parts: list[str]) -> bool:
    """An installed package (``site-packages``) or the standard library (``lib/python3.12``,
    ``Python312/Lib``)."""
    lowered = [part.lower() for part in parts[:-1]]
    if _PACKAGE_DIRS.intersection(lowered):
        return True
    return any(
        (first == "lib" and _STDLIB_DIR.fullmatch(second))
        or (second == "lib" and _STDLIB_DIR.fullmatch(first))
        for first, second in itertools.pairwise(lowered)
    )


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
    """Failing tests placed in no file of the workspace."""
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
    trace = test.trace
    if trace:
        failed = index.failure_line(trace, path)
        if failed is not None:
            return failed
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
