"""Workflow configuration: defaults, ``--config`` overrides, types, enums, sensitivity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assay.engine.masking import MASK
from assay.errors import DefinitionError
from assay.spec.workflow import ParamSpec

__all__ = ["masked_config", "resolve_config"]

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _coerce(name: str, spec: ParamSpec, value: Any) -> Any:
    try:
        if spec.type == "boolean":
            if isinstance(value, bool):
                return value
            text = str(value).lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError(value)
        if spec.type == "integer":
            return int(value)
        if spec.type == "number":
            return float(value)
        return value if isinstance(value, str) else str(value)
    except (TypeError, ValueError):
        raise DefinitionError(f"config.{name}: {value!r} is not a valid {spec.type}") from None


def resolve_config(params: Mapping[str, ParamSpec], given: Mapping[str, Any]) -> dict[str, Any]:
    """Merge defaults with ``given`` values, checking names, types and enums."""
    unknown = sorted(set(given) - set(params))
    if unknown:
        known = ", ".join(sorted(params)) or "none"
        raise DefinitionError(f"unknown config parameter(s) {', '.join(unknown)} (known: {known})")
    values: dict[str, Any] = {}
    for name, spec in params.items():
        if name in given:
            value = _coerce(name, spec, given[name])
        elif spec.default is not None:
            value = _coerce(name, spec, spec.default)
        else:
            raise DefinitionError(f"config.{name} is required: pass --config {name}=VALUE")
        if spec.enum is not None and value not in spec.enum:
            raise DefinitionError(f"config.{name}: {value!r} is not one of {spec.enum}")
        values[name] = value
    return values


def masked_config(params: Mapping[str, ParamSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with sensitive parameters replaced by ``***`` (safe to store)."""
    return {
        name: MASK if name in params and params[name].sensitive else value
        for name, value in values.items()
    }
