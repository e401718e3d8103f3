"""A tree compiled to Jinja source that only calls the evaluator's helpers, run in an
immutable sandbox.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from assay.spec.expressions.parser import _Bin, _Call, _Lit, _Node, _Prop, _Unary, _Var

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_ENV.globals.clear()
_ENV.filters.clear()
_ENV.tests.clear()


@lru_cache(maxsize=2048)
def _compile(source: str) -> Callable[..., Any]:
    return _ENV.compile_expression(source, undefined_to_none=False)


class _Emitter:
    """Turns a tree into Jinja source that only calls the evaluator's helpers."""

    def __init__(self) -> None:
        self.consts: list[Any] = []

    def const(self, value: Any) -> str:
        self.consts.append(value)
        return f"_k[{len(self.consts) - 1}]"

    def emit(self, node: _Node) -> str:
        if isinstance(node, _Lit):
            return self.const(node.value)
        if isinstance(node, _Var):
            return f"_var({self.const(node.path)})"
        if isinstance(node, _Prop):
            return f"_prop({self.emit(node.base)}, {self.const(node.key)})"
        if isinstance(node, _Call):
            args = "".join(f", {self.emit(a)}" for a in node.args)
            return f"_call({self.const(node.name)}{args})"
        if isinstance(node, _Bin):
            left, right = self.emit(node.left), self.emit(node.right)
            if node.op == "&&":
                return f"(_B({left}) and _B({right}))"
            if node.op == "||":
                return f"(_B({left}) or _B({right}))"
            return f"_op({self.const(node.op)}, {left}, {right})"
        if isinstance(node, _Unary):
            return f"_unary({self.const(node.op)}, {self.emit(node.operand)})"
        then, test, other = self.emit(node.then), self.emit(node.test), self.emit(node.other)
        return f"(({then}) if _B({test}) else ({other}))"
