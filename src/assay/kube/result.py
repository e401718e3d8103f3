"""What a Pod's ``result`` container prints (``entry.sh finish``), read line by line: the
steps' JUnit reports, the artifacts (:mod:`assay.kube.artifacts`), then the JSON result."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from assay.kube.artifacts import ArtifactReceiver

__all__ = ["REPORT_PREFIX", "PodResult"]

REPORT_PREFIX = "assay-report "


@dataclass
class PodResult:
    """What the ``result`` container said: status, steps, JUnit reports (name -> text)."""

    status: str | None = None
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    reports: dict[str, list[str]] = field(default_factory=dict)
    artifacts: ArtifactReceiver | None = None
    _current: str | None = None

    def take(self, line: str) -> bool:
        """Consume one line of the ``result`` container; False if it is plain output."""
        if self.artifacts is not None and self.artifacts.take(line):
            return True
        if line.startswith(REPORT_PREFIX):
            self._current = line[len(REPORT_PREFIX) :].strip()
            self.reports[self._current] = []
            return True
        if line.startswith("|") and self._current is not None:
            self.reports[self._current].append(line[1:])
            return True
        if line.startswith('{"status"'):
            found = json.loads(line)
            self.status = str(found["status"])
            self.steps.update(found.get("steps", {}))  # beside the workers' (kube/workers.py)
            return True
        return False
