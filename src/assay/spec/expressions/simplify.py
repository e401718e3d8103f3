"""Partial evaluation (:func:`simplify`): what the context resolves is folded, the rest
kept as source.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from assay.spec.expressions.evaluation import _evaluate_node, _Evaluator, _strip_braces
from assay.spec.expressions.functions import _HIGHER_ORDER
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
from assay.spec.expressions.values import Function, _format_number, _to_json, _Unresolved, is_truthy


def _simplify_node(expr: str, node: _Node, evaluator: _Evaluator) -> _Node:
    def attempt(candidate: _Node) -> _Node:
        try:
            return _Lit(_evaluate_node(expr, candidate, evaluator))
        except _Unresolved:
            return candidate

    if isinstance(node, _Lit):
        return node
    if isinstance(node, _Var):
        return attempt(node)
    if isinstance(node, _Prop):
        base = _simplify_node(expr, node.base, evaluator)
        rebuilt = _Prop(base, node.key)
        return attempt(rebuilt) if isinstance(base, _Lit) else rebuilt
    if isinstance(node, _Call):
        args = tuple(_simplify_node(expr, a, evaluator) for a in node.args)
        rebuilt_call = _Call(node.name, args)
        known = node.name in evaluator.functions or node.name in _HIGHER_ORDER
        if known and all(isinstance(a, _Lit) for a in args):
            return attempt(rebuilt_call)
        return rebuilt_call
    if isinstance(node, _Bin):
        left = _simplify_node(expr, node.left, evaluator)
        if node.op in ("&&", "||") and isinstance(left, _Lit):
            truth = is_truthy(left.value)
            if (node.op == "&&") != truth:
                return left
            return _simplify_node(expr, node.right, evaluator)
        right = _simplify_node(expr, node.right, evaluator)
        rebuilt_bin = _Bin(node.op, left, right)
        if isinstance(left, _Lit) and isinstance(right, _Lit):
            return attempt(rebuilt_bin)
        return rebuilt_bin
    if isinstance(node, _Unary):
        operand = _simplify_node(expr, node.operand, evaluator)
        rebuilt_unary = _Unary(node.op, operand)
        return attempt(rebuilt_unary) if isinstance(operand, _Lit) else rebuilt_unary
    test = _simplify_node(expr, node.test, evaluator)
    if isinstance(test, _Lit):
        branch = node.then if is_truthy(test.value) else node.other
        return _simplify_node(expr, branch, evaluator)
    return _Cond(
        test,
        _simplify_node(expr, node.then, evaluator),
        _simplify_node(expr, node.other, evaluator),
    )


def _literal_source(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _format_number(value) if math.isfinite(value) else json.dumps(repr(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return _to_json(value)


def _source(node: _Node) -> str:
    if isinstance(node, _Lit):
        return _literal_source(node.value)
    if isinstance(node, _Var):
        return ".".join(node.path)
    if isinstance(node, _Prop):
        base = _source(node.base)
        if not isinstance(node.base, _Var | _Prop | _Call):
            base = f"({base})"
        return f"{base}.{node.key}"
    if isinstance(node, _Call):
        return f"{node.name}({', '.join(_source(a) for a in node.args)})"
    if isinstance(node, _Bin):
        return f"({_source(node.left)} {node.op} {_source(node.right)})"
    if isinstance(node, _Unary):
        return f"{node.op}({_source(node.operand)})"
    return f"({_source(node.test)} ? {_source(node.then)} : {_source(node.other)})"


def _unwrap_outer(text: str) -> str:
    """Drop one pair of redundant outer parentheses."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    quote = False
    for i, char in enumerate(text):
        if quote:
            if char == "\\":
                continue
            if char == '"' and text[i - 1] != "\\":
                quote = False
            continue
        if char == '"':
            quote = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0 and i != len(text) - 1:
                return text
    return text[1:-1]


def simplify(
    expr: str, context: Mapping[str, Any], *, functions: Mapping[str, Function] | None = None
) -> tuple[str, bool, Any]:
    """Partially evaluate ``expr`` against ``context``.

    Returns ``(source, resolved, value)``: when everything resolved, ``resolved``
    is True and ``value`` holds the result (``source`` its literal form);
    otherwise ``source`` is the expression with the resolvable parts replaced by
    literals (or ``expr`` unchanged when nothing could be resolved) and ``value``
    is None. Syntax errors and failing operations raise :class:`ExpressionError`.
    """
    source = _strip_braces(expr)
    node = _parse(source)
    evaluator = _Evaluator(context, functions)
    result = _simplify_node(source, node, evaluator)
    if isinstance(result, _Lit):
        return _literal_source(result.value), True, result.value
    if result == node:
        return source, False, None
    return _unwrap_outer(_source(result)), False, None
