"""Printing records as tables, JSON or YAML."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

__all__ = ["Format", "emit", "print_table"]


class Format(StrEnum):
    """Output formats of `get` commands."""

    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


def emit(data: Any, fmt: Format, columns: Sequence[tuple[str, str]], title: str = "") -> None:
    """Print ``data`` (a dict or a list of dicts) in ``fmt``; tables show ``columns``."""
    if fmt is Format.JSON:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return
    if fmt is Format.YAML:
        import yaml

        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
        return
    print_table(data if isinstance(data, list) else [data], columns, title)


def print_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], title: str = ""
) -> None:
    """A plain-text table: cells are never markup (``test_x[a-b]`` stays intact), and
    output to a pipe or file is not cut to 80 columns (ids are copied from it)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title or None, box=None, header_style="bold")
    for key, header in columns:
        table.add_column(header, no_wrap=key.endswith(("Id", "id")))
    for row in rows:
        table.add_row(*(Text(_cell(row, key)) for key, _ in columns))
    Console(soft_wrap=True, width=None if sys.stdout.isatty() else 1000).print(table)


def _cell(row: dict[str, Any], key: str) -> str:
    value: Any = row
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)
