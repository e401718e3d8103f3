"""Checks on a loaded definition that its schema cannot express: its ``{{ }}`` expressions.

Every ``{{ }}`` in a string of a TestWorkflow or TestWorkflowTemplate must parse, and the
bare expressions (a step's ``condition``, ``retry.until``, a string ``count``,
``maxCount`` or ``parallelism``) too. In a TestWorkflow, ``config.NAME`` must name a
declared ``spec.config`` parameter (a template may also read its caller's config, so
there only the syntax is checked). ``metadata`` is never evaluated and is skipped.

Problems are returned as ``(loc, message)``; the loader turns ``loc`` into
``FILE:LINE: FIELD.PATH``. The expression module is imported only when a definition
holds an expression.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from assay.errors import ExpressionError

__all__ = ["BARE_EXPRESSION_FIELDS", "check_expressions"]

Loc = list[str | int]

BARE_EXPRESSION_FIELDS = frozenset({"condition", "until", "count", "maxCount", "parallelism"})
"""Fields whose string value is an expression without ``{{ }}``."""

_CONDITION_WORDS = frozenset({"always", "never", "passed", "failed", "success", "error"})


def check_expressions(kind: str, data: dict[str, Any]) -> list[tuple[Loc, str]]:
    """Problems of the expressions in one definition (``data`` as loaded from YAML)."""
    if kind not in ("TestWorkflow", "TestWorkflowTemplate"):
        return []
    spec = data.get("spec")
    if not isinstance(spec, dict):
        return []
    declared: set[str] | None = None
    if kind == "TestWorkflow":
        config = spec.get("config")
        declared = set(config) if isinstance(config, dict) else set()
    problems: list[tuple[Loc, str]] = []
    for loc, text, bare in _strings(spec, ["spec"]):
        for message in _check_text(text, bare, declared):
            problems.append((loc, message))
    return problems


def _strings(value: Any, loc: Loc, key: str | None = None) -> Iterator[tuple[Loc, str, bool]]:
    """Every string under ``value`` that may hold an expression, with its path."""
    if isinstance(value, str):
        bare = key in BARE_EXPRESSION_FIELDS
        if bare or "{{" in value:
            yield loc, value, bare
    elif isinstance(value, dict):
        for name, item in value.items():
            if isinstance(name, str):
                yield from _strings(item, [*loc, name], name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, [*loc, index])


def _check_text(text: str, bare: bool, declared: set[str] | None) -> list[str]:
    from assay.spec.expressions import find_expressions, references, simplify

    if bare:
        if text.strip() in _CONDITION_WORDS:
            return []
        sources = [text]
    else:
        try:
            sources = [inner for _, _, inner in find_expressions(text)]
        except ExpressionError as exc:
            return [str(exc)]
    messages: list[str] = []
    for source in sources:
        try:
            simplify(source, {})
        except ExpressionError as exc:
            messages.append(str(exc))
            continue
        if declared is not None:
            messages += _unknown_config(
                source.strip(), references(source, template=False), declared
            )
    return messages


def _unknown_config(source: str, paths: set[str], declared: set[str]) -> list[str]:
    messages = []
    for path in sorted(paths):
        parts = path.split(".")
        if parts[0] != "config" or len(parts) < 2 or parts[1] in declared:
            continue
        message = f"expression {source!r}: unknown config {parts[1]!r}"
        close = difflib.get_close_matches(parts[1], sorted(declared), n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        elif declared:
            message += f"; declared: {', '.join(sorted(declared))}"
        else:
            message += "; spec.config declares none"
        messages.append(message)
    return messages
