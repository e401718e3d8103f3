"""YAML text for people: definitions and Kubernetes objects printed as a person writes them.

Keys keep their order, lines are never folded, and a multi-line string (a script, a file's
content) is a ``|`` block where YAML allows one (else it is quoted, as ``yaml.safe_dump``
does). The text loads back to the same data with ``yaml.safe_load``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

__all__ = ["dump_documents", "dump_yaml"]

_WIDTH = 1_000_000
"""No folding of long lines."""


class _ReadableDumper(yaml.SafeDumper):
    """Safe dumping, with multi-line strings as ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ReadableDumper.add_representer(str, _represent_str)


def dump_yaml(data: Any) -> str:
    """``data`` as one block-style YAML document."""
    return yaml.dump(
        data, Dumper=_ReadableDumper, sort_keys=False, allow_unicode=True, width=_WIDTH
    )


def dump_documents(objects: Sequence[dict[str, Any]]) -> str:
    """``objects`` as YAML documents, each started by ``---``."""
    return yaml.dump_all(
        objects,
        Dumper=_ReadableDumper,
        explicit_start=True,
        sort_keys=False,
        allow_unicode=True,
        width=_WIDTH,
    )
