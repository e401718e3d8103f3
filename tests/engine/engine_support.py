"""Helpers for engine tests."""

from __future__ import annotations

from collections.abc import Callable

import yaml

from assay.spec.workflow import TestWorkflow
from assay.store.tables import ExecutionRow

RunWorkflow = Callable[..., ExecutionRow]


def workflow(text: str) -> TestWorkflow:
    """A TestWorkflow from YAML text."""
    return TestWorkflow.model_validate(yaml.safe_load(text))
