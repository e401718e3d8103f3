"""Where a task's pytest results come from, and noticing when there are none.

Each task runs with ``ASSAY_REPORT_DIR=<reports>/<ref>-<attempt>/``: the bundled pytest
plugin writes one JUnit file per pytest run there, whatever ``--junit-xml`` the user
passes (:mod:`assay.pytest_attempts`). ``PYTEST_ADDOPTS`` also names
``<reports>/<ref>-<attempt>.xml``, read only when the plugin left nothing (pytest run
from another Python, or the plugin disabled). :class:`PytestOutput` watches the task's
output, so a pytest run that left no report assay could read is reported, not silent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assay.envvars import REPORT_NOTE_SUFFIX

__all__ = ["AttemptReports", "PytestOutput", "Unrecorded", "unrecorded_note"]

_RAN = re.compile(
    r"=+ test session starts =+"
    r"|\b(?:no tests ran|\d+ (?:passed|failed|errors?|skipped|deselected|xfailed|xpassed))\b"
    r".* in \d+(?:\.\d+)?s\b"
)
_GENERATED = re.compile(r"generated xml file: (.+?) -*$")


@dataclass
class PytestOutput:
    """What a task's output says about pytest: whether it ran, where it wrote JUnit."""

    ran: bool = False
    junit_files: list[Path] = field(default_factory=list)

    def feed(self, line: str) -> None:
        """Look at one output line."""
        if _RAN.search(line):
            self.ran = True
        found = _GENERATED.search(line)
        if found:
            self.ran = True
            self.junit_files.append(Path(found.group(1).strip()))


@dataclass(frozen=True)
class AttemptReports:
    """The report files of one task attempt."""

    directory: Path
    fallback: Path

    @classmethod
    def of(cls, reports: Path, ref: str, attempt: int) -> AttemptReports:
        """The (emptied) report locations of step ``ref``, attempt ``attempt``."""
        made = cls(reports / f"{ref}-{attempt}", reports / f"{ref}-{attempt}.xml")
        made.fallback.unlink(missing_ok=True)
        if made.directory.is_dir():
            for old in made.directory.iterdir():
                old.unlink()
        return made

    def plugin_files(self) -> list[Path]:
        """The plugin's JUnit files, oldest run first."""
        return sorted(self.directory.glob("*.xml")) if self.directory.is_dir() else []

    def plugin_ran(self) -> bool:
        """Whether a pytest run with the plugin started (it leaves a note at once)."""
        return self.directory.is_dir() and any(self.directory.glob(f"*{REPORT_NOTE_SUFFIX}"))

    def user_junit(self, to_host: Callable[[str], str] = str) -> set[Path]:
        """The users' own ``--junit-xml`` files of the runs the plugin recorded (``to_host``:
        a container's path as this machine's)."""
        found: set[Path] = set()
        for report in self.plugin_files():
            note = report.with_name(report.stem + REPORT_NOTE_SUFFIX)
            try:
                path = json.loads(note.read_text(encoding="utf-8")).get("junitxml")
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(path, str):
                found.add(Path(to_host(path)).resolve())
        return found


@dataclass(frozen=True)
class Unrecorded:
    """An attempt in which pytest ran but no report was read; its own JUnit files."""

    attempt: int
    junit_files: Sequence[Path]


def unrecorded_note(missed: list[Unrecorded], last: int, ingested: Collection[Path]) -> str | None:
    """What to tell the user about pytest runs whose results were lost, if any were."""
    final = missed[-1] if missed else None
    if (
        final
        and final.attempt == last
        and final.junit_files
        and all(path.resolve() in ingested for path in final.junit_files)
    ):
        missed = missed[:-1]  # its --junit-xml was collected as an artifact after the run
    if not missed:
        return None
    attempts = ", ".join(str(item.attempt) for item in missed)
    note = f"pytest ran (attempt {attempts}) but assay read no JUnit report of it"
    lost = sorted({str(path) for item in missed for path in item.junit_files})
    if lost:
        note += f"; its --junit-xml {', '.join(lost)} is not collected by `artifacts.paths`"
    return note + (
        "; is the assay pytest plugin inactive (pytest of another Python, `-p no:assay`, "
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD) while --junit-xml overrides assay's?"
    )
