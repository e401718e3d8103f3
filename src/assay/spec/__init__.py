"""Definitions: the models, the YAML loader, legacy conversion, expressions, templates.

The names below are imported from their modules on first use, so that loading one
module (``assay.spec.workflow``) does not load them all (jinja2, legacy models).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.spec.base import KubeObject, SpecModel, parse_duration
    from assay.spec.expressions import (
        FUNCTIONS,
        evaluate,
        find_expressions,
        is_truthy,
        references,
        render,
        simplify,
        to_string,
    )
    from assay.spec.legacy import (
        LegacyExecutionRequest,
        LegacyTest,
        LegacyTestSuite,
        suite_to_workflow,
        test_to_workflow,
    )
    from assay.spec.loader import (
        KINDS,
        Definition,
        DefinitionModel,
        load_definitions,
        load_paths,
        load_text,
    )
    from assay.spec.templates import normalize_template_name, resolve_templates
    from assay.spec.workflow import (
        API_VERSIONS,
        Artifacts,
        Container,
        Content,
        ContentFile,
        EnvVar,
        Execute,
        ExecuteTest,
        ExecuteWorkflow,
        GitContent,
        Metadata,
        Parallel,
        ParamSpec,
        Retry,
        Run,
        SecretKeyRef,
        Service,
        Step,
        TemplateRef,
        TestWorkflow,
        TestWorkflowTemplate,
        WorkflowSpec,
    )

_MODULES: dict[str, str] = {
    "KubeObject": "assay.spec.base",
    "SpecModel": "assay.spec.base",
    "parse_duration": "assay.spec.base",
    "FUNCTIONS": "assay.spec.expressions",
    "evaluate": "assay.spec.expressions",
    "find_expressions": "assay.spec.expressions",
    "is_truthy": "assay.spec.expressions",
    "references": "assay.spec.expressions",
    "render": "assay.spec.expressions",
    "simplify": "assay.spec.expressions",
    "to_string": "assay.spec.expressions",
    "LegacyExecutionRequest": "assay.spec.legacy",
    "LegacyTest": "assay.spec.legacy",
    "LegacyTestSuite": "assay.spec.legacy",
    "suite_to_workflow": "assay.spec.legacy",
    "test_to_workflow": "assay.spec.legacy",
    "KINDS": "assay.spec.loader",
    "Definition": "assay.spec.loader",
    "DefinitionModel": "assay.spec.loader",
    "load_definitions": "assay.spec.loader",
    "load_paths": "assay.spec.loader",
    "load_text": "assay.spec.loader",
    "normalize_template_name": "assay.spec.templates",
    "resolve_templates": "assay.spec.templates",
    "API_VERSIONS": "assay.spec.workflow",
    "Artifacts": "assay.spec.workflow",
    "Container": "assay.spec.workflow",
    "Content": "assay.spec.workflow",
    "ContentFile": "assay.spec.workflow",
    "EnvVar": "assay.spec.workflow",
    "Execute": "assay.spec.workflow",
    "ExecuteTest": "assay.spec.workflow",
    "ExecuteWorkflow": "assay.spec.workflow",
    "GitContent": "assay.spec.workflow",
    "Metadata": "assay.spec.workflow",
    "Parallel": "assay.spec.workflow",
    "ParamSpec": "assay.spec.workflow",
    "Retry": "assay.spec.workflow",
    "Run": "assay.spec.workflow",
    "SecretKeyRef": "assay.spec.workflow",
    "Service": "assay.spec.workflow",
    "Step": "assay.spec.workflow",
    "TemplateRef": "assay.spec.workflow",
    "TestWorkflow": "assay.spec.workflow",
    "TestWorkflowTemplate": "assay.spec.workflow",
    "WorkflowSpec": "assay.spec.workflow",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'assay.spec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "API_VERSIONS",
    "FUNCTIONS",
    "KINDS",
    "Artifacts",
    "Container",
    "Content",
    "ContentFile",
    "Definition",
    "DefinitionModel",
    "EnvVar",
    "Execute",
    "ExecuteTest",
    "ExecuteWorkflow",
    "GitContent",
    "KubeObject",
    "LegacyExecutionRequest",
    "LegacyTest",
    "LegacyTestSuite",
    "Metadata",
    "Parallel",
    "ParamSpec",
    "Retry",
    "Run",
    "SecretKeyRef",
    "Service",
    "SpecModel",
    "Step",
    "TemplateRef",
    "TestWorkflow",
    "TestWorkflowTemplate",
    "WorkflowSpec",
    "evaluate",
    "find_expressions",
    "is_truthy",
    "load_definitions",
    "load_paths",
    "load_text",
    "normalize_template_name",
    "parse_duration",
    "references",
    "render",
    "resolve_templates",
    "simplify",
    "suite_to_workflow",
    "test_to_workflow",
    "to_string",
]
