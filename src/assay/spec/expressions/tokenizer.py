"""An expression as tokens: literals (JSON, quoted strings, numbers), names, operators;
names holding ``__`` are refused here, in every mode.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from assay.errors import ExpressionError

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
