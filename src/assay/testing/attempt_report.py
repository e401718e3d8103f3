"""assay's own JUnit report of a pytest run, whatever ``--junit-xml`` the user passes.

When ``ASSAY_REPORT_DIR`` is set (the engine sets it for every task), the plugin writes
a JUnit XML file of the run into that directory under a fresh name (several pytest runs
in one step each leave their own), next to a JSON note naming the user's own
``--junit-xml`` file, if any, so the engine does not count those cases twice when that
file is collected as an artifact.

The report comes from a second instance of pytest's own JUnit writer, so it reads
exactly like the user's; it has no ``--junit-prefix``, so its identities are those
``retry.scope: failed-tests`` deselects by (:mod:`assay.testing.rerun`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from _pytest.junitxml import LogXML

from assay.envvars import REPORT_DIR, REPORT_NOTE_SUFFIX

__all__ = ["register_attempt_report"]


class _AttemptReport(LogXML):
    """pytest's JUnit writer that leaves its note when the session starts (so a run that
    ends before its report is written is still known to have run) and does not announce
    its file."""

    def __init__(self, note: Path, user_xml: str | None, *args: Any) -> None:
        super().__init__(*args)
        self.note = note
        self.user_xml = user_xml

    def pytest_sessionstart(self) -> None:
        """Write the note, then start as pytest's writer does."""
        path = os.path.abspath(os.path.expanduser(self.user_xml)) if self.user_xml else None
        self.note.write_text(json.dumps({"junitxml": path}), encoding="utf-8")
        super().pytest_sessionstart()

    def pytest_terminal_summary(self, *args: object, **kwargs: object) -> None:
        """Say nothing: the file is assay's business, not the user's."""


def register_attempt_report(config: pytest.Config) -> None:
    """Write assay's report of this run if the engine asked for one (not on xdist workers).

    The variable is removed from this process's environment, so pytest runs started by
    the tests themselves do not write into the step's reports.
    """
    directory = os.environ.pop(REPORT_DIR, None)
    if not directory or hasattr(config, "workerinput"):
        return
    if not config.pluginmanager.has_plugin("junitxml"):  # `-p no:junitxml`: its ini is gone
        return
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{time.time_ns():020d}-{os.getpid()}"
    report = _AttemptReport(
        folder / f"{stem}{REPORT_NOTE_SUFFIX}",
        getattr(config.option, "xmlpath", None),
        str(folder / f"{stem}.xml"),
        None,
        config.getini("junit_suite_name"),
        config.getini("junit_logging"),
        config.getini("junit_duration_report"),
        config.getini("junit_family"),
        config.getini("junit_log_passing_tests"),
    )
    config.pluginmanager.register(report, "assay-attempt-report")
