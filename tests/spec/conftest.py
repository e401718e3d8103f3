"""Fixtures for the spec tests."""

from __future__ import annotations

import pytest
from spec_helpers import CONFORMANCE

from assay.spec import Definition, TestWorkflowTemplate, load_definitions
from support import skip_unless_ci


@pytest.fixture(scope="session")
def conformance_definitions() -> list[Definition]:
    if not CONFORMANCE.is_dir():
        skip_unless_ci(f"conformance material not found at {CONFORMANCE}")
    return load_definitions(CONFORMANCE)


@pytest.fixture(scope="session")
def conformance_templates(
    conformance_definitions: list[Definition],
) -> dict[str, TestWorkflowTemplate]:
    """Every TestWorkflowTemplate of the conformance set (templates/ and workflows/)."""
    return {
        item.name: item.model
        for item in conformance_definitions
        if isinstance(item.model, TestWorkflowTemplate)
    }
