"""Printing records as tables, JSON or YAML."""

from __future__ import annotations

import json
import shutil
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
        from assay.spec.yaml_text import dump_yaml

        sys.stdout.write(dump_yaml(data))
        return
    print_table(data if isinstance(data, list) else [data], columns, title)


ID_MIN_WIDTH = 8
"""Ids are shortened to no fewer characters (a unique prefix is accepted where ids are)."""
TEXT_MIN_WIDTH = 6
"""Free-text cells (tags, messages) are cut with an ellipsis to no fewer characters."""
FREE_TEXT_KEYS = frozenset({"tags", "labels", "summary", "reason", "message", "source"})
"""Columns that may be cut (after ids); names, statuses, times and numbers never are."""
GAP = "  "


def print_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], title: str = ""
) -> None:
    """A plain-text table fitted to the terminal width (80 columns on a pipe, or
    ``$COLUMNS``): ids are shortened first, then free text (tags) is cut, then dropped;
    names never. Cells are
    printed verbatim (``test_x[a-b]`` stays intact)."""
    cells = [[header for _, header in columns]]
    cells += [[_cell(row, key).replace("\n", " ") for key, _ in columns] for row in rows]
    widths = fit_widths(
        [key for key, _ in columns],
        [max(len(line[i]) for line in cells) for i in range(len(columns))],
        shutil.get_terminal_size((80, 24)).columns,
    )
    out = [title] if title else []
    shown = [i for i, width in enumerate(widths) if width > 0]
    for line in cells:
        parts = [_clip(line[i], widths[i], _is_id(columns[i][0])).ljust(widths[i]) for i in shown]
        out.append(GAP.join(parts).rstrip())
    sys.stdout.write("\n".join(out) + "\n")


def fit_widths(keys: Sequence[str], widths: Sequence[int], limit: int) -> list[int]:
    """Column widths within ``limit`` (with two spaces between columns): id columns are
    cut to :data:`ID_MIN_WIDTH` first, one by one while needed, then the widest free-text
    column (to :data:`TEXT_MIN_WIDTH`), then free-text columns are dropped (width 0; they
    are in ``-o json``); other columns (names) keep their width even if the table overflows."""
    fitted = list(widths)
    excess = sum(fitted) + len(GAP) * (len(fitted) - 1) - limit
    for i, key in enumerate(keys):  # a short prefix, like git's: the same for every row
        if excess <= 0:
            return fitted
        if _is_id(key) and fitted[i] > ID_MIN_WIDTH:
            excess -= fitted[i] - ID_MIN_WIDTH
            fitted[i] = ID_MIN_WIDTH
    free = [i for i, key in enumerate(keys) if key.rsplit(".", 1)[-1] in FREE_TEXT_KEYS]
    while excess > 0:
        shrinkable = [i for i in free if fitted[i] > TEXT_MIN_WIDTH]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: fitted[i])
        others = [fitted[i] for i in shrinkable if i != widest]
        floor = max([TEXT_MIN_WIDTH, *others])
        cut = min(excess, max(fitted[widest] - floor, 1))
        fitted[widest] -= cut
        excess -= cut
    for i in sorted(free, key=lambda i: -fitted[i]):  # still too wide: drop free text
        if excess <= 0:
            break
        excess -= fitted[i] + len(GAP)
        fitted[i] = 0
    return fitted


def _is_id(key: str) -> bool:
    last = key.rsplit(".", 1)[-1]
    return last == "id" or last.endswith("Id")


def _clip(text: str, width: int, is_id: bool) -> str:
    if len(text) <= width:
        return text
    return text[:width] if is_id else text[: max(width - 1, 0)] + "…"


def _cell(row: dict[str, Any], key: str) -> str:
    value: Any = row
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return "-"
    if key.endswith(("At", "until")) and isinstance(value, str):  # ISO time: minutes, UTC
        return value[:16].replace("T", " ")
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)
