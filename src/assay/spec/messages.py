"""Pydantic validation errors -> the messages the loader reports (``FIELD.PATH: message``).

Separate from :mod:`assay.spec.loader`, which finds the line of each location in the YAML
node tree: this module knows the models, not YAML.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Sequence
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

__all__ = ["describe_error", "format_path", "join_messages", "type_name"]


_TAG = re.compile(r"^[a-z][a-z0-9_-]*\[.*\]$|^(str|int|float|bool|list|dict|none|bytes)$")


def _clean_loc(loc: Sequence[str | int], data: Any, error_type: str) -> list[str | int]:
    """Drop pydantic's union/validator tags that are not keys of the document."""
    out: list[str | int] = []
    current: Any = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        exists = False
        nxt: Any = None
        if isinstance(current, dict) and part in current:
            exists, nxt = True, current[part]
        elif isinstance(current, dict) and str(part) in current:
            exists, nxt = True, current[str(part)]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            exists, nxt = True, current[part]
        if exists:
            out.append(part)
            current = nxt
            continue
        if isinstance(part, str) and _TAG.match(part) and not (last and error_type == "missing"):
            continue
        out.append(part)
        current = None
    return out


def format_path(loc: Sequence[str | int]) -> str:
    """``spec.steps[0].run`` from a location."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


def type_name(value: Any) -> str:
    """What a YAML user calls the type of ``value`` (a string, a mapping...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def join_messages(messages: list[str]) -> str:
    """One message for a path; union alternatives become ``... or ...``."""
    unique = list(dict.fromkeys(messages))
    prefix = "Input should be "
    if len(unique) > 1 and all(m.startswith(prefix) for m in unique):
        got = ""
        parts = []
        for m in unique:
            body = m[len(prefix) :]
            if body.endswith(")") and " (got " in body:
                body, got = body.rsplit(" (got ", 1)
                got = f" (got {got}"
            parts.append(body)
        return prefix + " or ".join(dict.fromkeys(parts)) + got
    return "; ".join(unique)


def describe_error(
    error: Any, data: dict[str, Any], model_cls: type[BaseModel]
) -> tuple[list[str | int], str, str]:
    """One pydantic error as (location in the document, field path, message): union tags
    dropped, unknown fields with a suggestion, types named as YAML users know them."""
    error_type: str = error["type"]
    loc = _clean_loc(error["loc"], data, error_type)
    message: str = error["msg"]
    path_loc = loc
    if error_type == "extra_forbidden":
        field = str(loc[-1]) if loc else "?"
        message = f"unknown field {field!r}"
        known = _known_fields(model_cls, loc[:-1])
        close = difflib.get_close_matches(field, known, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        elif known:
            message += f"; accepted: {', '.join(sorted(known))}"
    elif error_type == "missing":
        field = str(loc[-1]) if loc else "?"
        message = f"missing required field {field!r}"
    elif error_type in ("value_error", "assertion_error"):
        message = re.sub(r"^(Value|Assertion) error, ", "", message)
    elif error_type == "string_pattern_mismatch" and list(loc) == ["metadata", "name"]:
        message = (
            f"invalid name {error.get('input')!r}: use lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit"
        )
    elif error_type.endswith("_type") or error_type.endswith("_parsing"):
        message = f"{message} (got {type_name(error.get('input'))})"
    return loc, format_path(path_loc), message


def _known_fields(model_cls: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """Aliases accepted at ``loc`` (for suggestions); [] when it cannot tell."""
    current: Any = model_cls
    for part in loc:
        current = _descend(current, part)
        if current is None:
            return []
    current = _model_of(current)
    if current is None:
        return []
    names = [field.alias or name for name, field in current.model_fields.items()]
    return [n for n in names if not n.startswith("x-assay")]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        models = [m for m in (_model_of(a) for a in get_args(annotation)) if m is not None]
        return models[0] if len(models) == 1 else None
    return None


def _descend(annotation: Any, part: str | int) -> Any:
    model = _model_of(annotation)
    if model is not None:
        if not isinstance(part, str):
            return None
        for name, field in model.model_fields.items():
            if part in (field.alias, name):
                return field.annotation
        return None
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin in (Union, types.UnionType):
        for arg in args:
            if arg is not type(None):
                found = _descend(arg, part)
                if found is not None:
                    return found
        return None
    if origin in (list, Sequence) and args and isinstance(part, int):
        return args[0]
    if origin is dict and len(args) == 2 and isinstance(part, str):
        return args[1]
    return None
