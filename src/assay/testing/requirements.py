"""Requirement traceability: `@pytest.mark.requirement("BR-E2E-001", ...)`.

Each id becomes a JUnit `<property name="requirement" value="..."/>` of its test case
(through `item.user_properties`), which `assay trace` reads. Under paths given by
`--require-requirement-marker` / `assay_require_requirement_paths`, a test without the
marker is a collection error.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from assay.testing.policy import PathPolicy

__all__ = ["MARKER", "PROPERTY", "apply_requirements", "requirement_ids"]

MARKER = "requirement"
PROPERTY = "requirement"
MARKER_HELP = (
    "requirement(*ids): the requirement ids a test verifies, e.g. "
    '@pytest.mark.requirement("BR-E2E-001"); written to JUnit XML as '
    '<property name="requirement" value="..."/>'
)


def requirement_ids(item: pytest.Item) -> list[str]:
    """The ids of every `requirement` marker on `item` (test, class, module), deduplicated
    in order. Raises ValueError for a marker without ids or with a non-string id."""
    ids: list[str] = []
    for mark in item.iter_markers(MARKER):
        if not mark.args or mark.kwargs:
            raise ValueError(
                f"@pytest.mark.requirement takes one or more ids as positional arguments, "
                f"got args={mark.args!r} kwargs={mark.kwargs!r}"
            )
        for rid in mark.args:
            if not isinstance(rid, str) or not rid.strip():
                raise ValueError(f"requirement ids must be non-empty strings, got {rid!r}")
            ids.append(rid.strip())
    return list(dict.fromkeys(ids))


def _error(item: pytest.Item, message: str) -> pytest.CollectReport:
    return pytest.CollectReport(item.nodeid, "failed", message, [])


def apply_requirements(
    items: Iterable[pytest.Item], policy: PathPolicy
) -> tuple[list[pytest.Item], list[pytest.CollectReport]]:
    """Record requirement ids as user properties; return the items that pass the marker
    rules and a collection error for each that does not."""
    kept: list[pytest.Item] = []
    errors: list[pytest.CollectReport] = []
    for item in items:
        try:
            ids = requirement_ids(item)
        except ValueError as exc:
            errors.append(_error(item, str(exc)))
            continue
        root = None if ids else policy.match(item.path)
        if root is not None:
            errors.append(
                _error(
                    item,
                    f"{item.name} lacks @pytest.mark.requirement(...): tests under {root} must "
                    "name the requirements they verify (--require-requirement-marker / "
                    "assay_require_requirement_paths)",
                )
            )
            continue
        item.user_properties.extend((PROPERTY, rid) for rid in ids)
        kept.append(item)
    return kept, errors
