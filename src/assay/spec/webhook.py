"""The Webhook kind (Testkube's ``executor.testkube.io/v1``): where to POST execution events.

Testkube's fields: ``uri``, ``events``, ``selector`` (a label selector over the workflow's
labels), ``headers``, ``payloadTemplate``, ``disabled``. assay extensions: ``contentMode``
(CloudEvents ``structured``, the default, or ``binary``) and ``signature`` (an HMAC-SHA256
of the body with a secret, in a header). A ``payloadTemplate`` replaces the event's data;
it may use ``{{ .Path.To.Field }}`` substitutions of that data (Go-template paths; other Go
template actions are refused at load).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from assay.spec.base import SpecModel
from assay.spec.workflow import Metadata, SecretKeyRef

__all__ = [
    "EVENTS",
    "WEBHOOK_API_VERSIONS",
    "Signature",
    "Webhook",
    "WebhookSpec",
    "label_selector",
    "render_payload",
    "selector_matches",
]

WEBHOOK_API_VERSIONS = ("executor.testkube.io/v1",)

EventName = Literal[
    "queue-testworkflow",
    "start-testworkflow",
    "end-testworkflow-success",
    "end-testworkflow-failed",
    "end-testworkflow-aborted",
    "become-testworkflow-up",
    "become-testworkflow-down",
    "become-testworkflow-failed",
    "become-testworkflow-aborted",
]
EVENTS: tuple[str, ...] = EventName.__args__  # type: ignore[attr-defined]
"""Every event a Webhook may subscribe to."""

_SUBSTITUTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)
_PATH = re.compile(r"^(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_REQUIREMENT = re.compile(r"^(!)?\s*([A-Za-z0-9][-A-Za-z0-9_./]*)\s*(?:(==|=|!=)\s*(\S*))?$")


class Signature(SpecModel):
    """``header: sha256=<hex HMAC-SHA256 of the body>`` keyed by a secret."""

    secret_key_ref: SecretKeyRef
    header: str = "X-Assay-Signature"


class WebhookSpec(SpecModel):
    """The ``spec`` of a Webhook."""

    uri: str
    events: Annotated[list[EventName], Field(min_length=1)]
    selector: str | None = None
    headers: dict[str, str] = {}
    payload_template: str | None = None
    disabled: bool = False
    content_mode: Literal["structured", "binary"] = "structured"
    signature: Signature | None = None

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+\S*$", value):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        if value is not None:
            label_selector(value)
        return value

    @field_validator("payload_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is None:
            return value
        for match in _SUBSTITUTION.finditer(value):
            if not _PATH.match(match.group(1)):
                raise ValueError(
                    f"{match.group(0)!r} is not supported; use "
                    "{{ .Path.To.Field }} substitutions of the event data"
                )
        return value


class Webhook(SpecModel):
    """A Webhook definition, applied with ``assay apply``."""

    api_version: str
    kind: Literal["Webhook"] = "Webhook"
    metadata: Metadata
    spec: WebhookSpec

    @field_validator("api_version")
    @classmethod
    def _api_version(cls, value: str) -> str:
        if value not in WEBHOOK_API_VERSIONS:
            raise ValueError(f"unsupported apiVersion {value!r}; expected {WEBHOOK_API_VERSIONS}")
        return value


Requirement = tuple[bool, str, str | None, str | None]
"""(negated existence, key, operator, value)."""


def label_selector(text: str) -> list[Requirement]:
    """Parse ``key=value,key!=value,key,!key`` (ValueError naming the bad part)."""
    requirements: list[Requirement] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = _REQUIREMENT.match(part)
        if match is None or (match.group(1) and match.group(3)):
            raise ValueError(
                f"selector: cannot read {part!r} (expected key=value, key!=value, key or !key)"
            )
        requirements.append((bool(match.group(1)), match.group(2), match.group(3), match.group(4)))
    return requirements


def selector_matches(text: str | None, labels: dict[str, str]) -> bool:
    """Whether ``labels`` satisfy the selector (no selector: everything matches)."""
    for negated, key, operator, value in label_selector(text or ""):
        if operator is None:
            if (key in labels) == negated:
                return False
        elif operator == "!=":
            if labels.get(key) == value:
                return False
        elif labels.get(key) != value:
            return False
    return True


def render_payload(template: str, data: dict[str, Any]) -> str:
    """``template`` with each ``{{ .A.B }}`` replaced by ``data["A"]["B"]`` (missing: empty;
    a mapping or list: JSON)."""
    import json

    def value(match: re.Match[str]) -> str:
        current: Any = data
        for key in match.group(1).strip(".").split("."):
            current = current.get(key) if isinstance(current, dict) else None
        if current is None:
            return ""
        if isinstance(current, dict | list):
            return json.dumps(current)
        if isinstance(current, bool):
            return "true" if current else "false"
        return str(current)

    return _SUBSTITUTION.sub(value, template)
