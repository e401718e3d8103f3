"""Environment variables assay sets for the processes it runs."""

from __future__ import annotations

__all__ = ["EXIT_FILE", "RERUN_ONLY"]

EXIT_FILE = "ASSAY_EXIT_FILE"
"""Where the local runner's shell wrapper writes a task's exit status."""

RERUN_ONLY = "ASSAY_RERUN_ONLY"
"""A file of ``classname<TAB>name`` lines: the pytest plugin deselects every other test."""
