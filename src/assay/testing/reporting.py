"""Service logs in test reports: sources attached to a node show up when its tests fail."""

from __future__ import annotations

import pytest

from assay.testing.services import LogSource, read_log_tail

__all__ = ["add_log_sections", "attach_logs"]

_LOG_SOURCES = pytest.StashKey[list[LogSource]]()


def attach_logs(node: pytest.Item | pytest.Collector, source: LogSource) -> None:
    """Show the logs of `source` in the report of every failing test at or below `node`
    (in a fixture: `request.node`)."""
    sources = node.stash.setdefault(_LOG_SOURCES, [])
    if all(source is not known for known in sources):
        sources.append(source)


def add_log_sections(item: pytest.Item, report: pytest.TestReport) -> None:
    """Append a report section with the tail of each log attached to `item` or a parent."""
    for node in item.listchain():
        for source in node.stash.get(_LOG_SOURCES, []):
            for title, path in source.log_files():
                if path.exists():
                    report.sections.append((title, read_log_tail(path)))
