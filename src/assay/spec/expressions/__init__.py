"""Testkube-style ``{{ }}`` expressions, evaluated in a Jinja sandbox.

The language is Testkube's (``pkg/expressions``): a small JSON-based expression
syntax, parsed here into a tree and then compiled to a Jinja expression that
only calls the helper functions of this module, run by jinja2's
:class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`. Nothing is ever passed
to Python's ``eval``; attribute access on Python objects is impossible (a dot
only reads a key of a mapping or an index of a list), and names containing
``__`` are refused outright.

Syntax
    literals      ``"text"`` (JSON escapes; ``'text'`` also accepted), ``12``, ``1.5``,
                  ``true``, ``false``, ``null``, JSON lists/objects ``[1, 2]``, ``{"a": 1}``
    variables     ``config.X``, ``env.X``, ``execution.id``, ``workflow.name``,
                  ``matrix.X``, ``shard.X``, ``index``, ``count``, ``services.db.0.ip``
                  (``.0`` indexes a list; ``services.x.*.ip`` collects ``ip`` of every item)
    operators     ``!x``, ``-x``, ``**``, ``* / %``, ``+ -``,
                  ``== = != <> < <= > >=``, ``&& ||`` (same priority, left to right,
                  as in Testkube), ``cond ? a : b``
    calls         ``name(arg, ...)`` of the functions in :data:`FUNCTIONS`

Semantics (as in Testkube)
    * ``==``/``!=`` compare the *string* forms (``1 == "1"``, ``true == "true"``);
      ``< <= > >=`` compare numbers; ``+`` concatenates when either side is a
      string, otherwise adds; ``- * / % **`` are arithmetic (``/`` and ``%`` by
      zero are errors).
    * ``&&``/``||`` return one of their operands, judged by :func:`is_truthy`
      (``""``, ``"false"``, ``"0"``, ``"off"``, ``0``, ``null``, empty lists/maps are false).
    * rendering a value into text (:func:`to_string`): ``null`` -> ``""``,
      booleans -> ``true``/``false``, integral numbers without ``.0``, lists ->
      items joined with ``,`` (so ``-R {{ services.slave.*.ip }}`` gives
      ``10.0.0.1,10.0.0.2`` as in Testkube), maps -> JSON. Use ``tojson(x)``
      for JSON lists.
    * an unknown top-level variable, or an unknown key directly under a
      top-level mapping (``config.typo``), is an error; ``env.X`` of an unset
      variable is ``""``; a missing key deeper down (``matrix.case.title``) is
      ``null``, so ``matrix.case.title || matrix.case.id`` works.

Modes
    :func:`render` and :func:`evaluate` are strict by default: anything that
    cannot be resolved raises :class:`~assay.errors.ExpressionError`, whose
    message quotes the expression. ``render(..., strict=False)`` resolves what
    it can and leaves the rest in place, simplified (``{{ config.n * count }}``
    with ``config.n = 2`` becomes ``{{2*count}}``; an expression it cannot use
    at all is left verbatim). Sandbox violations are errors in both modes.

Step conditions use the same language: the engine puts ``always``, ``never``,
``passed``, ``failed`` ... in the context and calls :func:`evaluate`.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import posixpath
import re
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeAlias, TypeVar

import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from assay.errors import ExpressionError

__all__ = [
    "FUNCTIONS",
    "evaluate",
    "find_expressions",
    "is_truthy",
    "references",
    "render",
    "simplify",
    "to_string",
]

MAX_EXPRESSION_LENGTH = 20_000
"""Longest single expression accepted (characters)."""
MAX_DEPTH = 100
"""Deepest nesting of an expression tree."""
MAX_ITEMS = 100_000
"""Largest list a function may build (``range``, ``split``, ``chunk`` ...)."""
MAX_TEXT = 10_000_000
"""Longest string an operator or function may build."""

Function = Callable[..., Any]
_T = TypeVar("_T")


# --------------------------------------------------------------------------- values


class _Unresolved(Exception):
    """A variable or function that the context does not provide."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _EvalError(Exception):
    """A well-formed expression that fails on its values (type, division ...)."""


@dataclass(frozen=True)
class _Missing:
    """Placeholder for an unresolved variable; fails as soon as it is used."""

    name: str


class _Bool:
    """Wrapper giving Jinja's lazy ``and``/``or`` Testkube truthiness, keeping the operand."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __bool__(self) -> bool:
        return is_truthy(_u(self.value))


def _u(value: Any) -> Any:
    """Unwrap ``_Bool`` and fail on ``_Missing``."""
    while isinstance(value, _Bool):
        value = value.value
    if isinstance(value, _Missing):
        raise _Unresolved(value.name)
    return value


def is_truthy(value: Any) -> bool:
    """Testkube truthiness: false for null, ``""``, ``"false"``, ``"0"``, ``"off"``, 0, empty."""
    value = _u(value)
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, Mapping | list | tuple):
        return len(value) > 0
    if isinstance(value, int | float):
        return value != 0
    return to_string(value) not in ("", "false", "0", "off")


def _format_number(value: float) -> str:
    if math.isfinite(value) and value == int(value) and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def to_string(value: Any) -> str:
    """A value as text, the way Testkube renders it into a template."""
    value = _u(value)
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _format_number(value)
    if isinstance(value, list | tuple):
        return ",".join(to_string(item) for item in value)
    return _to_json(value)


def _to_json(value: Any) -> str:
    try:
        return json.dumps(
            _plain(value), ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str
        )
    except (TypeError, ValueError) as exc:
        raise _EvalError(f"cannot convert to JSON: {exc}") from None


def _plain(value: Any) -> Any:
    value = _u(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _to_float(value: Any) -> float:
    value = _u(value)
    if isinstance(value, bool):
        raise _EvalError(f"cannot convert {to_string(value)!r} to a number")
    if isinstance(value, int | float):
        return float(value)
    if value is None:
        return 0.0
    text = to_string(value).strip()
    try:
        return float(text)
    except ValueError:
        raise _EvalError(f"cannot convert {text!r} to a number") from None


def _to_int(value: Any) -> int:
    value = _u(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _to_float(value)
    if not math.isfinite(number):
        raise _EvalError(f"cannot convert {to_string(value)!r} to an integer")
    return int(number)


def _number(value: float) -> int | float:
    """Keep integral results as ``int`` (Testkube computes in float64)."""
    if math.isfinite(value) and value == int(value) and abs(value) < 2**53:
        return int(value)
    return value


def _check_size(value: _T) -> _T:
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise _EvalError(f"result longer than {MAX_TEXT} characters")
    if isinstance(value, list) and len(value) > MAX_ITEMS:
        raise _EvalError(f"result longer than {MAX_ITEMS} items")
    return value


# --------------------------------------------------------------------------- functions


def _fn_string(*values: Any) -> str:
    return _check_size("".join(to_string(v) for v in values))


def _fn_list(*values: Any) -> list[Any]:
    return [_u(v) for v in values]


def _fn_join(value: Any, separator: Any = ",") -> Any:
    value = _u(value)
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise _EvalError(f"join() expects a list, got {to_string(value)!r}")
    return _check_size(to_string(separator).join(to_string(v) for v in value))


def _fn_split(value: Any, separator: Any = ",") -> list[str]:
    sep = to_string(separator)
    if sep == "":
        raise _EvalError("split() separator cannot be empty")
    return _check_size(to_string(value).split(sep))


def _fn_bool(value: Any) -> bool:
    return is_truthy(value)


def _fn_tojson(value: Any) -> str:
    return _to_json(value)


def _fn_json(value: Any) -> Any:
    value = _u(value)
    if not isinstance(value, str):
        raise _EvalError("json() expects a string")
    try:
        return json.loads(value)
    except ValueError as exc:
        raise _EvalError(f"json(): {exc}") from None


def _fn_toyaml(value: Any) -> str:
    return yaml.safe_dump(_plain(value), sort_keys=True, allow_unicode=True)


def _fn_yaml(value: Any) -> Any:
    value = _u(value)
    if not isinstance(value, str):
        raise _EvalError("yaml() expects a string")
    if len(value) > MAX_TEXT:
        raise _EvalError("yaml() input too long")
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise _EvalError(f"yaml(): {exc}") from None


def _fn_shellquote(*values: Any) -> str:
    words: list[str] = []
    for value in values:
        value = _u(value)
        if isinstance(value, list | tuple):
            words.extend(to_string(v) for v in value)
        else:
            words.append(to_string(value))
    return _check_size(" ".join(shlex.quote(w) for w in words))


def _fn_shellparse(value: Any) -> list[str]:
    try:
        return _check_size(shlex.split(to_string(value)))
    except ValueError as exc:
        raise _EvalError(f"shellparse(): {exc}") from None


def _fn_trim(value: Any) -> str:
    return to_string(value).strip()


def _fn_lower(value: Any) -> str:
    return to_string(value).lower()


def _fn_upper(value: Any) -> str:
    return to_string(value).upper()


def _fn_len(value: Any) -> int:
    value = _u(value)
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise _EvalError(f"len() expects a string, list or map, got {to_string(value)!r}")


def _fn_floor(value: Any) -> int:
    return math.floor(_to_float(value))


def _fn_ceil(value: Any) -> int:
    return math.ceil(_to_float(value))


def _fn_round(value: Any) -> int:
    number = _to_float(value)
    return math.floor(number + 0.5) if number >= 0 else -math.floor(-number + 0.5)


def _fn_chunk(value: Any, size: Any) -> list[list[Any]]:
    items = _u(value)
    if not isinstance(items, list | tuple):
        raise _EvalError("chunk() expects a list")
    step = _to_int(size)
    if step <= 0:
        raise _EvalError("chunk() size must be >= 1")
    return [list(items[i : i + step]) for i in range(0, len(items), step)]


def _fn_at(value: Any, key: Any) -> Any:
    value = _u(value)
    if isinstance(value, Mapping):
        return value.get(to_string(key))
    if isinstance(value, list | tuple | str):
        index = _to_int(key)
        if 0 <= index < len(value):
            return value[index]
        raise _EvalError(f"at(): index {index} out of bounds (length {len(value)})")
    raise _EvalError("at() expects a list, map or string")


def _fn_entries(value: Any) -> list[dict[str, Any]]:
    value = _u(value)
    if not isinstance(value, Mapping):
        raise _EvalError("entries() expects a map")
    return [{"key": k, "value": v} for k, v in value.items()]


def _fn_range(start: Any, end: Any = None) -> list[int]:
    first, last = (0, _to_int(start)) if end is None else (_to_int(start), _to_int(end))
    if last - first > MAX_ITEMS:
        raise _EvalError(f"range() longer than {MAX_ITEMS} items")
    return list(range(first, last))


def _fn_default(value: Any, fallback: Any) -> Any:
    if isinstance(value, _Bool):
        value = value.value
    if isinstance(value, _Missing):
        return _u(fallback)
    value = _u(value)
    return _u(fallback) if value is None or value == "" else value


def _fn_relpath(target: Any, base: Any = "/") -> str:
    return posixpath.relpath(
        posixpath.join("/", to_string(target)), posixpath.join("/", to_string(base))
    )


def _fn_abspath(target: Any, base: Any = "/") -> str:
    return posixpath.normpath(posixpath.join("/", to_string(base), to_string(target)))


_GO_LAYOUT = [
    ("2006", "%Y"),
    ("01", "%m"),
    ("02", "%d"),
    ("15", "%H"),
    ("04", "%M"),
    ("05", "%S"),
]


def _fn_date(layout: Any = None) -> str:
    now = _dt.datetime.now(_dt.UTC)
    if layout is None:
        return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    text = to_string(layout)
    if "%" not in text:
        for go, py in _GO_LAYOUT:
            text = text.replace(go, py)
    return now.strftime(text)


FUNCTIONS: Mapping[str, Function] = {
    "string": _fn_string,
    "tostring": _fn_string,
    "list": _fn_list,
    "join": _fn_join,
    "split": _fn_split,
    "int": _to_int,
    "toint": _to_int,
    "float": _to_float,
    "tofloat": _to_float,
    "bool": _fn_bool,
    "tobool": _fn_bool,
    "tojson": _fn_tojson,
    "json": _fn_json,
    "toyaml": _fn_toyaml,
    "yaml": _fn_yaml,
    "shellquote": _fn_shellquote,
    "shellparse": _fn_shellparse,
    "trim": _fn_trim,
    "lower": _fn_lower,
    "upper": _fn_upper,
    "len": _fn_len,
    "floor": _fn_floor,
    "ceil": _fn_ceil,
    "round": _fn_round,
    "chunk": _fn_chunk,
    "at": _fn_at,
    "entries": _fn_entries,
    "range": _fn_range,
    "default": _fn_default,
    "relpath": _fn_relpath,
    "abspath": _fn_abspath,
    "date": _fn_date,
}
"""Built-in functions (``map`` and ``filter`` are handled by the evaluator)."""

_LAZY_FUNCTIONS = frozenset({"default"})
_HIGHER_ORDER = frozenset({"map", "filter"})


# --------------------------------------------------------------------------- syntax tree


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

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<op>\*\*|==|!=|<>|>=|<=|&&|\|\||[+\-*/%<>=])
  | (?P<not>!)
  | (?P<punct>[(),?:])
  | (?P<dq>")
  | (?P<sq>')
  | (?P<json>[\[{])
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<dot>\.\s*(?:[A-Za-z0-9_]+|\*))
  | (?P<spread>\.\.\.)
    """,
    re.VERBOSE,
)

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


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    value: Any
    pos: int


def _fail(expr: str, message: str) -> ExpressionError:
    return ExpressionError(f"invalid expression {expr!r}: {message}")


def _tokenize(expr: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    decoder = json.JSONDecoder()
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None:
            raise _fail(expr, f"unexpected character {expr[pos]!r} at position {pos}")
        kind = match.lastgroup or ""
        text = match.group()
        if kind == "space":
            pos = match.end()
            continue
        if kind == "spread":
            raise _fail(expr, "the spread operator '...' is not supported")
        if kind in ("dq", "sq", "json"):
            value, end = _read_literal(expr, pos, kind, decoder)
            tokens.append(_Tok("lit", expr[pos:end], value, pos))
            pos = end
            continue
        if kind == "number":
            number = float(text)
            value = int(text) if re.fullmatch(r"\d+", text) else number
            tokens.append(_Tok("lit", text, value, pos))
        elif kind == "name":
            if text in ("true", "false", "null"):
                tokens.append(_Tok("lit", text, {"true": True, "false": False}.get(text), pos))
            else:
                _check_name(expr, text)
                tokens.append(_Tok("name", text, text, pos))
        elif kind == "dot":
            key = text[1:].strip()
            _check_name(expr, key)
            tokens.append(_Tok("dot", text, key, pos))
        else:
            tokens.append(_Tok(kind, text, text, pos))
        pos = match.end()
    return tokens


class _Forbidden(ExpressionError):
    """A name the sandbox refuses (``__class__`` ...): an error in every mode."""


def _check_name(expr: str, name: str) -> None:
    if "__" in name:
        raise _Forbidden(f"invalid expression {expr!r}: name {name!r} is not allowed")


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}


def _read_literal(expr: str, pos: int, kind: str, decoder: json.JSONDecoder) -> tuple[Any, int]:
    if kind == "sq":
        chars: list[str] = []
        end = pos + 1
        while end < len(expr) and expr[end] != "'":
            if expr[end] == "\\" and end + 1 < len(expr):
                chars.append(_ESCAPES.get(expr[end + 1], expr[end + 1]))
                end += 2
                continue
            chars.append(expr[end])
            end += 1
        if end >= len(expr):
            raise _fail(expr, f"unterminated string at position {pos}")
        return "".join(chars), end + 1
    # JSON string, list or object; raw newlines/tabs inside strings allowed (as in Testkube)
    text = expr[pos:]
    if kind == "dq":
        end = 1
        while end < len(text) and text[end] != '"':
            end += 2 if text[end] == "\\" else 1
        if end >= len(text):
            raise _fail(expr, f"unterminated string at position {pos}")
        source = text[: end + 1].replace("\n", "\\n").replace("\t", "\\t")
        try:
            return json.loads(source), pos + end + 1
        except ValueError as exc:
            raise _fail(expr, f"bad string at position {pos}: {exc.args[0]}") from None
    try:
        value, end = decoder.raw_decode(text)
    except ValueError as exc:
        raise _fail(expr, f"bad JSON literal at position {pos}: {exc.args[0]}") from None
    return value, pos + end


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


# --------------------------------------------------------------------------- evaluation

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_ENV.globals.clear()
_ENV.filters.clear()
_ENV.tests.clear()


@lru_cache(maxsize=2048)
def _compile(source: str) -> Callable[..., Any]:
    return _ENV.compile_expression(source, undefined_to_none=False)


class _Emitter:
    """Turns a tree into Jinja source that only calls this module's helpers."""

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


# --------------------------------------------------------------------------- simplification


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


# --------------------------------------------------------------------------- templates


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
