"""Environment variables assay sets for the processes it runs."""

from __future__ import annotations

__all__ = ["EXIT_FILE", "REPORT_DIR", "REPORT_NOTE_SUFFIX", "RERUN_ONLY"]

EXIT_FILE = "ASSAY_EXIT_FILE"
"""Where the local runner's shell wrapper writes a task's exit status."""

RERUN_ONLY = "ASSAY_RERUN_ONLY"
"""A file of ``classname<TAB>name`` lines: the pytest plugin deselects every other test."""

REPORT_DIR = "ASSAY_REPORT_DIR"
"""A directory where the pytest plugin writes its own JUnit report of each pytest run."""

REPORT_NOTE_SUFFIX = ".assay.json"
"""A report ``X.xml`` there has a note ``X.assay.json``: ``{"junitxml": path | null}``."""
