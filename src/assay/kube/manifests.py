"""Kubernetes objects as multi-document YAML (multi-line strings as ``|`` blocks)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

__all__ = ["dump_yaml"]


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings, so scripts read as they were written."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def dump_yaml(objects: Sequence[dict[str, Any]]) -> str:
    """``objects`` as YAML documents separated by ``---``."""
    return yaml.dump_all(
        objects, Dumper=_Dumper, sort_keys=False, explicit_start=True, width=1_000_000
    )
