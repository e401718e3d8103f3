"""assay's per-attempt pytest reports and ``retry.scope: failed-tests``, for any pytest.

This module imports nothing of assay (standard library and pytest only) and keeps to
Python 3.8 syntax: assay's installed plugin (:mod:`assay.testing.plugin`) calls it, and
the docker runner mounts this very file into every container as
``/opt/assay/pytest/assay_pytest_attempts.py``, loaded with ``-p assay_pytest_attempts``,
so pytest in a step's image (its own Python, without assay) writes the same reports and
deselects the same tests.

**Reports.** When ``ASSAY_REPORT_DIR`` is set (the engine sets it for every task), a JUnit
XML file of the run is written into that directory under a fresh name (several pytest runs
in one step each leave their own), next to a JSON note naming the user's own
``--junit-xml`` file, if any, so the engine does not count those cases twice when that
file is collected as an artifact. The report comes from a second instance of pytest's own
JUnit writer, so it reads exactly like the user's; it has no ``--junit-prefix``, so its
identities are those reruns deselect by.

**Reruns.** The engine writes the JUnit identities (classname, name) of the failed tests
to a file named by ``ASSAY_RERUN_ONLY``; every other test is deselected. Identities are
computed exactly as pytest's junitxml writes them.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from _pytest.junitxml import LogXML, mangle_test_address

__all__ = [
    "REPORT_DIR",
    "REPORT_NOTE_SUFFIX",
    "RERUN_ONLY",
    "junit_identity",
    "register_attempt_report",
    "select_reruns",
]

# The same names as assay.envvars (a test keeps them equal): this file imports nothing of assay.
REPORT_DIR = "ASSAY_REPORT_DIR"
REPORT_NOTE_SUFFIX = ".assay.json"
RERUN_ONLY = "ASSAY_RERUN_ONLY"


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
    the tests themselves do not write into the step's reports (and a second copy of this
    plugin in the same run writes nothing).
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


def junit_identity(item: pytest.Item) -> tuple[str, str]:
    """(classname, name) of ``item`` as pytest's JUnit XML reports it."""
    names = mangle_test_address(item.nodeid)
    return ".".join(names[:-1]), names[-1]


def select_reruns(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep only the tests listed in the ``ASSAY_RERUN_ONLY`` file, if it is set."""
    listing = os.environ.get(RERUN_ONLY)
    if not listing:
        return
    wanted = {
        tuple(line.split("\t", 1))
        for line in Path(listing).read_text(encoding="utf-8").splitlines()
        if "\t" in line
    }
    kept = [item for item in items if junit_identity(item) in wanted]
    deselected = [item for item in items if junit_identity(item) not in wanted]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = kept


# Hooks, active only when this file is loaded as a plugin of its own (``-p`` in containers);
# assay's installed plugin calls the functions above from its own hooks.


def pytest_configure(config: pytest.Config) -> None:
    """Start assay's report of this run, if asked for."""
    register_attempt_report(config)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the tests a ``failed-tests`` retry does not re-run."""
    select_reruns(config, items)
