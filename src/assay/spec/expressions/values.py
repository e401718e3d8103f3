"""Values of the expression language: Testkube truthiness and text forms, numbers, size
limits, and the markers of what a context does not resolve.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

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
