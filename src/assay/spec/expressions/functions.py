"""The functions an expression may call (:data:`FUNCTIONS`), as Testkube's."""

from __future__ import annotations

import datetime as _dt
import json
import math
import posixpath
import shlex
from collections.abc import Mapping
from typing import Any

import yaml

from assay.spec.expressions.values import (
    MAX_ITEMS,
    MAX_TEXT,
    Function,
    _Bool,
    _check_size,
    _EvalError,
    _Missing,
    _plain,
    _to_float,
    _to_int,
    _to_json,
    _u,
    is_truthy,
    to_string,
)


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
