"""Common base for definition models: camelCase aliases, unknown fields rejected."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["KubeObject", "SpecModel", "parse_duration"]


class SpecModel(BaseModel):
    """Strict model: YAML keys in camelCase, unknown keys are errors."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        frozen=False,
    )

    def dump(self) -> dict[str, Any]:
        """Serialise back to the YAML shape (camelCase, unset fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)


KubeObject = dict[str, Any]
"""A Kubernetes-native object (pod spec fragment, probe, volume...) kept verbatim."""

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(text: str | int | float) -> float:
    """Parse a Go-style duration (``1h2m3s``, ``500ms``, ``90``) into seconds."""
    if isinstance(text, int | float):
        return float(text)
    value = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value)
    pos, total = 0, 0.0
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    for match in _DURATION_PART.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * scale[match.group(2)]
        pos = match.end()
    if pos != len(value) or not value:
        raise ValueError(f"invalid duration {text!r} (expected e.g. 30s, 5m, 1h30m, 500ms)")
    return total
