"""``{{ }}`` in text: found, rendered (strictly or partially), and the names they reference."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from assay.errors import ExpressionError
from assay.spec.expressions.evaluation import _describe, _evaluate_node, _Evaluator, _strip_braces
from assay.spec.expressions.parser import (
    _Bin,
    _Call,
    _Cond,
    _Lit,
    _Node,
    _parse,
    _Prop,
    _Unary,
    _Var,
)
from assay.spec.expressions.simplify import _simplify_node, _source, _unwrap_outer
from assay.spec.expressions.tokenizer import _Forbidden
from assay.spec.expressions.values import Function, _Unresolved, to_string


def find_expressions(text: str) -> Iterator[tuple[int, int, str]]:
    """Yield ``(start, end, inner)`` for each ``{{ ... }}`` in ``text``.

    Quotes inside an expression are honoured (``{{ "}}" }}`` is one expression).
    Raises :class:`ExpressionError` for an unterminated ``{{``.
    """
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            return
        i = start + 2
        quote: str | None = None
        while i < len(text):
            char = text[i]
            if quote is not None:
                if char == "\\":
                    i += 2
                    continue
                if char == quote:
                    quote = None
            elif char in "\"'":
                quote = char
            elif text.startswith("}}", i):
                break
            i += 1
        else:
            snippet = text[start : start + 60]
            raise ExpressionError(f"unterminated expression {snippet!r} (missing '}}}}')")
        yield start, i + 2, text[start + 2 : i]
        pos = i + 2


def render(
    text: str,
    context: Mapping[str, Any],
    *,
    strict: bool = True,
    functions: Mapping[str, Function] | None = None,
) -> str:
    """Replace every ``{{ expr }}`` in ``text`` with its value (see :func:`to_string`).

    ``strict=False`` leaves what cannot be resolved in place (partially
    simplified); syntax errors are then left verbatim too. Sandbox violations
    and failing operations raise in both modes.
    """
    if "{{" not in text:
        return text
    out: list[str] = []
    last = 0
    try:
        spans = list(find_expressions(text))
    except ExpressionError:
        if strict:
            raise
        return text
    evaluator = _Evaluator(context, functions)
    for start, end, inner in spans:
        out.append(text[last:start])
        last = end
        source = inner.strip()
        if strict:
            node = _parse(source)
            try:
                out.append(to_string(_evaluate_node(source, node, evaluator)))
            except _Unresolved as exc:
                raise ExpressionError(
                    f"expression {source!r}: unknown {_describe(exc.name)}"
                ) from None
            continue
        try:
            node = _parse(source)
        except _Forbidden:
            raise
        except ExpressionError:
            out.append(text[start:end])
            continue
        result = _simplify_node(source, node, evaluator)
        if isinstance(result, _Lit):
            out.append(to_string(result.value))
        elif result == node:
            out.append(text[start:end])
        else:
            out.append("{{ " + _unwrap_outer(_source(result)) + " }}")
    out.append(text[last:])
    return "".join(out)


def _collect(node: _Node, found: set[str]) -> None:
    if isinstance(node, _Var):
        found.add(".".join(node.path))
    elif isinstance(node, _Prop):
        _collect(node.base, found)
    elif isinstance(node, _Call):
        for arg in node.args:
            _collect(arg, found)
    elif isinstance(node, _Bin):
        _collect(node.left, found)
        _collect(node.right, found)
    elif isinstance(node, _Unary):
        _collect(node.operand, found)
    elif isinstance(node, _Cond):
        _collect(node.test, found)
        _collect(node.then, found)
        _collect(node.other, found)


def references(text: str, *, template: bool = True) -> set[str]:
    """Dotted variable paths used in ``text`` (``{"config.version", "index"}``).

    With ``template=True`` only ``{{ }}`` parts are read; otherwise ``text`` is
    a bare expression. Parts that do not parse are ignored.
    """
    found: set[str] = set()
    sources: list[str]
    if template:
        try:
            sources = [inner for _, _, inner in find_expressions(text)]
        except ExpressionError:
            sources = []
    else:
        sources = [text]
    for source in sources:
        try:
            _collect(_parse(_strip_braces(source)), found)
        except ExpressionError:
            continue
    return found
