"""Paths and helpers for the spec tests (a unique module name: tests/ has no packages)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import support

DATA = Path(__file__).resolve().parent / "data"
CONFORMANCE = support.CONFORMANCE / "testkube"


def conformance_files(folder: str) -> list[Path]:
    """The YAML files of one conformance folder (empty when the folder is absent)."""
    root = CONFORMANCE / folder
    return sorted(root.glob("*.yaml")) if root.is_dir() else []


def walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of a nested dict/list structure."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)
