"""From a stored or loaded definition to a runnable TestWorkflow."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.errors import NotFoundError
from assay.spec.loader import RUNNABLE_KINDS
from assay.spec.workflow import TestWorkflow, TestWorkflowTemplate
from assay.store.definitions import DefinitionStore

if TYPE_CHECKING:
    from assay.spec.loader import Definition

__all__ = ["RUNNABLE_KINDS", "Catalog"]


@dataclass
class Catalog:
    """Definitions visible to a run: those loaded from files, then those applied."""

    loaded: list[Definition] = field(default_factory=list)
    store: DefinitionStore | None = None

    def find(self, name: str, kinds: Iterable[str] = RUNNABLE_KINDS) -> tuple[str, Any]:
        """(kind, model) of the runnable definition ``name``."""
        wanted = list(kinds)
        for kind in wanted:
            for item in self.loaded:
                if item.kind == kind and item.name == name:
                    return kind, item.model
        if self.store is not None:
            kind, _, raw = self.store.get(name, wanted)
            return kind, _model(kind, raw)
        raise NotFoundError(f"no {' or '.join(wanted)} named {name!r} in the given files")

    def templates(self) -> dict[str, TestWorkflowTemplate]:
        """Every template by name (loaded ones win over applied ones; both win over the
        ones shipped with assay, which :func:`resolve_templates` reads when asked for)."""
        found: dict[str, TestWorkflowTemplate] = {}
        if self.store is not None:
            for name, raw in self.store.all_of_kind("TestWorkflowTemplate").items():
                found[name] = TestWorkflowTemplate.model_validate(raw)
        for item in self.loaded:
            if isinstance(item.model, TestWorkflowTemplate):
                found[item.name] = item.model
        return found

    def workflow(self, name: str, kinds: Iterable[str] = RUNNABLE_KINDS) -> TestWorkflow:
        """The runnable workflow for ``name`` (legacy kinds converted, templates applied)."""
        return self.to_workflow(self.find(name, kinds)[1])

    def to_workflow(self, model: Any) -> TestWorkflow:
        """Convert a definition model to a runnable workflow."""
        if isinstance(model, TestWorkflow):
            from assay.spec.templates import resolve_templates

            return resolve_templates(model, self.templates())
        from assay.spec.legacy import (  # only for legacy kinds: their models cost ~0.1 s
            LegacyTest,
            LegacyTestSuite,
            suite_to_workflow,
            test_to_workflow,
        )

        if isinstance(model, LegacyTest):
            return test_to_workflow(model)
        if isinstance(model, LegacyTestSuite):
            return suite_to_workflow(model)
        raise NotFoundError(f"{type(model).__name__} is not runnable")


def _model(kind: str, raw: Mapping[str, Any]) -> Any:
    from assay.spec.loader import KINDS

    return KINDS[kind][1].model_validate(raw)
