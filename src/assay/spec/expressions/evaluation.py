"""Evaluation: operators with Testkube's semantics, lookups, function calls, and
:func:`evaluate`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import TemplateError

from assay.errors import ExpressionError
from assay.spec.expressions.emitter import _compile, _Emitter
from assay.spec.expressions.functions import _HIGHER_ORDER, _LAZY_FUNCTIONS, FUNCTIONS
from assay.spec.expressions.parser import _Node, _parse
from assay.spec.expressions.values import (
    Function,
    _Bool,
    _check_size,
    _EvalError,
    _Missing,
    _number,
    _to_float,
    _u,
    _Unresolved,
    is_truthy,
    to_string,
)


def _binary(op: str, left: Any, right: Any) -> Any:
    left, right = _u(left), _u(right)
    if op == "==":
        return to_string(left) == to_string(right)
    if op == "!=":
        return to_string(left) != to_string(right)
    if op == "+" and (isinstance(left, str) or isinstance(right, str)):
        return _check_size(to_string(left) + to_string(right))
    a, b = _to_float(left), _to_float(right)
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    try:
        if op == "+":
            return _number(a + b)
        if op == "-":
            return _number(a - b)
        if op == "*":
            return _number(a * b)
        if op == "/":
            if b == 0:
                raise _EvalError("cannot divide by zero")
            return _number(a / b)
        if op == "%":
            if b == 0:
                raise _EvalError("cannot modulo by zero")
            return _number(math.fmod(a, b))
        if op == "**":
            return _number(math.pow(a, b))
    except (OverflowError, ValueError) as exc:
        raise _EvalError(f"arithmetic error: {exc}") from None
    raise _EvalError(f"unknown operator {op!r}")


def _unary(op: str, value: Any) -> Any:
    if op == "!":
        return not is_truthy(value)
    return _number(-_to_float(value))


def _lookup(value: Any, key: str, *, root: str | None) -> Any:
    """``value.key``: a mapping key or a list index; ``root`` names a top-level mapping."""
    value = _u(value)
    if key == "*":
        raise _EvalError("'*' must be followed by a key")
    if isinstance(value, Mapping):
        if key in value:
            return value[key]
        if root == "env":
            return ""
        if root is not None:
            return _Missing(f"{root}.{key}")
        return None
    if isinstance(value, list | tuple):
        if not key.isdigit():
            raise _EvalError(f"cannot read {key!r} of a list (use an index)")
        index = int(key)
        return value[index] if index < len(value) else None
    if value is None:
        return None
    raise _EvalError(f"cannot read {key!r} of {to_string(value)!r}")


def _walk(value: Any, keys: Sequence[str], *, root: str | None) -> Any:
    for i, key in enumerate(keys):
        if key == "*":
            items = _u(value)
            if isinstance(items, Mapping):
                items = list(items.values())
            if not isinstance(items, list | tuple):
                raise _EvalError("'*' expects a list or map")
            rest = keys[i + 1 :]
            return [_u(_walk(item, rest, root=None)) for item in items]
        value = _lookup(value, key, root=root)
        if isinstance(value, _Missing):
            return value
        root = None
    return value


class _Evaluator:
    def __init__(
        self, context: Mapping[str, Any], functions: Mapping[str, Function] | None
    ) -> None:
        self.context = context
        self.functions = {**FUNCTIONS, **(functions or {})}

    def var(self, path: tuple[str, ...]) -> Any:
        name = path[0]
        if name not in self.context:
            return _Missing(".".join(path))
        value = self.context[name]
        if len(path) == 1:
            return value
        return _walk(value, path[1:], root=name if isinstance(value, Mapping) else None)

    def prop(self, base: Any, key: str) -> Any:
        return _walk(base, (key,), root=None)

    def call(self, name: str, *args: Any) -> Any:
        if name in _HIGHER_ORDER:
            return self.higher_order(name, *args)
        fn = self.functions.get(name)
        if fn is None:
            raise _Unresolved(f"{name}()")
        values = args if name in _LAZY_FUNCTIONS else tuple(_u(a) for a in args)
        try:
            return _check_size(fn(*values))
        except TypeError as exc:
            raise _EvalError(f"{name}(): {exc}") from None

    def higher_order(self, name: str, *args: Any) -> Any:
        if len(args) != 2:
            raise _EvalError(f"{name}() expects 2 arguments, {len(args)} given")
        items, expr = _u(args[0]), to_string(args[1])
        if isinstance(items, Mapping):
            items = list(items.values())
        if not isinstance(items, list | tuple):
            raise _EvalError(f"{name}() expects a list as 1st argument")
        node = _parse(expr)
        results: list[Any] = []
        for index, item in enumerate(items):
            inner = {**self.context, "_": {"value": item, "index": index, "key": index}}
            value = _u(_Evaluator(inner, self.functions).run(node))
            if name == "map":
                results.append(value)
            elif is_truthy(value):
                results.append(item)
        return results

    def run(self, node: _Node) -> Any:
        emitter = _Emitter()
        source = emitter.emit(node)
        compiled = _compile(source)
        return compiled(
            _k=emitter.consts,
            _var=self.var,
            _prop=self.prop,
            _call=self.call,
            _op=_binary,
            _unary=_unary,
            _B=_Bool,
        )


def _evaluate_node(expr: str, node: _Node, evaluator: _Evaluator) -> Any:
    """Evaluate; raises ``_Unresolved`` for missing names, ExpressionError for the rest."""
    try:
        return _u(evaluator.run(node))
    except _Unresolved:
        raise
    except _EvalError as exc:
        raise ExpressionError(f"expression {expr!r}: {exc}") from None
    except TemplateError as exc:  # includes sandbox SecurityError
        raise ExpressionError(f"expression {expr!r}: {exc}") from None
    except RecursionError:
        raise ExpressionError(f"expression {expr!r}: nested too deeply") from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise ExpressionError(f"expression {expr!r}: {type(exc).__name__}: {exc}") from None


def _strip_braces(expr: str) -> str:
    text = expr.strip()
    if text.startswith("{{") and text.endswith("}}") and text.count("{{") == 1:
        return text[2:-2].strip()
    return text


def evaluate(
    expr: str, context: Mapping[str, Any], *, functions: Mapping[str, Function] | None = None
) -> Any:
    """Evaluate a bare expression (``config.smoke == true && env.CI != ""``).

    A single surrounding ``{{ }}`` is accepted and ignored. Anything unresolvable
    raises :class:`ExpressionError` naming the expression.
    """
    source = _strip_braces(expr)
    node = _parse(source)
    try:
        return _evaluate_node(source, node, _Evaluator(context, functions))
    except _Unresolved as exc:
        raise ExpressionError(f"expression {source!r}: unknown {_describe(exc.name)}") from None


def _describe(name: str) -> str:
    return f"function {name}" if name.endswith("()") else f"variable {name!r}"
