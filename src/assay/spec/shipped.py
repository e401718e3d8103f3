"""The TestWorkflowTemplates shipped with assay: Kubernetes helpers any workflow can use
without applying them first (``assay/kubectl-wait``, ``assay/ensure-namespace``,
``assay/k8s-diagnostics``). An applied or loaded template of the same name wins.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from assay.spec.workflow import TestWorkflowTemplate

__all__ = ["shipped_template_texts", "shipped_templates"]


def shipped_template_texts() -> dict[str, str]:
    """The YAML of each shipped template, by template name (``assay--kubectl-wait``)."""
    folder = resources.files("assay.spec") / "shipped"
    return {
        entry.name.removesuffix(".yaml"): entry.read_text(encoding="utf-8")
        for entry in sorted(folder.iterdir(), key=lambda item: item.name)
        if entry.name.endswith(".yaml")
    }


@cache
def shipped_templates() -> dict[str, TestWorkflowTemplate]:
    """Every shipped template, validated, by name."""
    from assay.spec.loader import load_text

    found: dict[str, TestWorkflowTemplate] = {}
    for name, text in shipped_template_texts().items():
        for definition in load_text(text, f"assay/spec/shipped/{name}.yaml"):
            assert isinstance(definition.model, TestWorkflowTemplate), definition.where
            found[definition.name] = definition.model
    return found
