"""Names and labels of the Kubernetes objects of an execution."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

__all__ = [
    "EXECUTION_LABEL",
    "MANAGED_BY",
    "STEP_LABEL",
    "WORKFLOW_LABEL",
    "ExecutionIdentity",
    "dns_label",
    "label_value",
]

EXECUTION_LABEL = "assay.io/execution"
WORKFLOW_LABEL = "assay.io/workflow"
STEP_LABEL = "assay.io/step"
MANAGED_BY = {"app.kubernetes.io/managed-by": "assay"}

_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9._-]+")


def dns_label(text: str, limit: int = 63) -> str:
    """``text`` as an RFC 1123 label of at most ``limit`` characters (a hash keeps cut names
    apart); it starts with a letter, so it is an RFC 1035 label too (Service names)."""
    name = _NOT_DNS.sub("-", text.lower()).strip("-") or "x"
    if not name[0].isalpha():
        name = f"a-{name}"
    if len(name) > limit:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        name = f"{name[: limit - 9].rstrip('-')}-{digest}"
    return name


def label_value(text: str) -> str:
    """``text`` as a label value (63 characters, alphanumeric at both ends)."""
    value = _NOT_LABEL.sub("-", text)[:63]
    return value.strip("-._")


@dataclass(frozen=True)
class ExecutionIdentity:
    """Who the objects belong to: the execution's id, name and number, its workflow."""

    id: str
    name: str
    number: int
    workflow: str

    @property
    def job_name(self) -> str:
        """The main Job's name; its Pods add 6 characters and the result is a label value."""
        return dns_label(f"{self.workflow}-{self.id[:8]}", limit=52)

    def labels(self, step: str | None = None) -> dict[str, str]:
        """The labels a restarted server finds an execution's objects by."""
        labels = {
            EXECUTION_LABEL: label_value(self.id),
            WORKFLOW_LABEL: label_value(self.workflow),
            **MANAGED_BY,
        }
        if step is not None:
            labels[STEP_LABEL] = label_value(step)
        return labels

    def expression_context(self) -> dict[str, object]:
        """``execution``, ``workflow`` and ``resource`` for ``{{ }}`` expressions."""
        return {
            "execution": {"id": self.id, "name": self.name, "number": self.number},
            "workflow": {"name": self.workflow},
            "resource": {"id": self.id, "root": self.id},
        }
