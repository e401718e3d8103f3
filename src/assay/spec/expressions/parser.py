"""The syntax tree, and the parser building it with Testkube's operator priorities
(depth and length bounded).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeAlias

from assay.errors import ExpressionError
from assay.spec.expressions.tokenizer import _fail, _Tok, _tokenize
from assay.spec.expressions.values import MAX_DEPTH, MAX_EXPRESSION_LENGTH


@dataclass(frozen=True)
class _Lit:
    value: Any


@dataclass(frozen=True)
class _Var:
    path: tuple[str, ...]


@dataclass(frozen=True)
class _Prop:
    base: _Node
    key: str


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[_Node, ...]


@dataclass(frozen=True)
class _Bin:
    op: str
    left: _Node
    right: _Node


@dataclass(frozen=True)
class _Unary:
    op: str  # "!" or "-"
    operand: _Node


@dataclass(frozen=True)
class _Cond:
    test: _Node
    then: _Node
    other: _Node


_Node: TypeAlias = _Lit | _Var | _Prop | _Call | _Bin | _Unary | _Cond


_PRIORITY = {
    "&&": 0,
    "||": 0,
    "==": 1,
    "=": 1,
    "!=": 1,
    "<>": 1,
    "<": 1,
    "<=": 1,
    ">": 1,
    ">=": 1,
    "+": 2,
    "-": 2,
    "*": 3,
    "/": 3,
    "%": 3,
    "**": 4,
}
_CANONICAL = {"=": "==", "<>": "!="}


class _Parser:
    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.tokens = _tokenize(expr)
        self.pos = 0
        self.depth = 0

    def parse(self) -> _Node:
        if not self.tokens:
            raise _fail(self.expr, "empty expression")
        node = self.ternary()
        if self.pos < len(self.tokens):
            tok = self.tokens[self.pos]
            raise _fail(self.expr, f"unexpected {tok.text!r} at position {tok.pos}")
        return node

    def peek(self) -> _Tok | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def at(self, kind: str, text: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == kind and tok.text == text

    def take(self, kind: str, text: str | None = None) -> _Tok:
        tok = self.peek()
        if tok is None or tok.kind != kind or (text is not None and tok.text != text):
            want = text or kind
            got = "end of expression" if tok is None else repr(tok.text)
            where = "" if tok is None else f" at position {tok.pos}"
            raise _fail(self.expr, f"expected {want!r}, found {got}{where}")
        self.pos += 1
        return tok

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _fail(self.expr, f"nested deeper than {MAX_DEPTH} levels")

    def ternary(self) -> _Node:
        self.nest()
        test = self.binary(0)
        tok = self.peek()
        if tok is not None and tok.kind == "punct" and tok.text == "?":
            self.pos += 1
            then = self.ternary()
            self.take("punct", ":")
            other = self.ternary()
            test = _Cond(test, then, other)
        self.depth -= 1
        return test

    def binary(self, level: int) -> _Node:
        if level > 4:
            return self.unary()
        left = self.binary(level + 1)
        while True:
            tok = self.peek()
            if tok is None or tok.kind != "op" or _PRIORITY[tok.text] != level:
                return left
            self.pos += 1
            self.nest()
            right = self.binary(level + 1)
            self.depth -= 1
            left = _Bin(_CANONICAL.get(tok.text, tok.text), left, right)

    def unary(self) -> _Node:
        tok = self.peek()
        if tok is not None and (tok.kind == "not" or (tok.kind == "op" and tok.text in "-+")):
            self.pos += 1
            self.nest()
            operand = self.unary()
            self.depth -= 1
            if tok.text == "+":
                return operand
            return _Unary("!" if tok.kind == "not" else "-", operand)
        return self.postfix()

    def postfix(self) -> _Node:
        node = self.primary()
        while True:
            tok = self.peek()
            if tok is None or tok.kind != "dot":
                return node
            self.pos += 1
            if isinstance(node, _Var):
                node = _Var((*node.path, tok.value))
            else:
                node = _Prop(node, tok.value)

    def primary(self) -> _Node:
        tok = self.peek()
        if tok is None:
            raise _fail(self.expr, "unexpected end of expression")
        self.pos += 1
        if tok.kind == "lit":
            return _Lit(tok.value)
        if tok.kind == "name":
            if self.at("punct", "("):
                self.pos += 1
                args: list[_Node] = []
                if not self.at("punct", ")"):
                    args.append(self.ternary())
                    while self.at("punct", ","):
                        self.pos += 1
                        args.append(self.ternary())
                self.take("punct", ")")
                return _Call(tok.text, tuple(args))
            return _Var((tok.text,))
        if tok.kind == "punct" and tok.text == "(":
            node = self.ternary()
            self.take("punct", ")")
            return node
        raise _fail(self.expr, f"unexpected {tok.text!r} at position {tok.pos}")


@lru_cache(maxsize=2048)
def _parse(expr: str) -> _Node:
    if len(expr) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"invalid expression {expr[:60]!r}...: longer than {MAX_EXPRESSION_LENGTH} characters"
        )
    try:
        return _Parser(expr).parse()
    except RecursionError:
        raise _fail(expr, "nested too deeply") from None
