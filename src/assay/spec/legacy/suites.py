"""A legacy ``TestSuite`` converted to a ``TestWorkflow`` of child executions (rules in
:mod:`assay.spec.legacy`).
"""

from __future__ import annotations

from typing import Any

from assay.spec.base import parse_duration
from assay.spec.legacy.conversion import (
    WORKFLOW_API_VERSION,
    _metadata,
    _note_unsupported,
    _seconds,
    _validated,
)
from assay.spec.legacy.models import (
    LegacyTestSuite,
    LegacyVariable,
    SuiteBatch,
    SuiteExecutionRequest,
)
from assay.spec.workflow import TestWorkflow


def _variables_dump(variables: dict[str, LegacyVariable]) -> dict[str, Any]:
    return {k: v.model_dump(by_alias=True, exclude_none=True) for k, v in variables.items()}


def _batch_step(
    step_name: str,
    batch: SuiteBatch,
    suite_variables: dict[str, LegacyVariable],
    where: str,
    notes: list[str],
) -> dict[str, Any] | None:
    tests: list[dict[str, Any]] = []
    delays: list[tuple[float, str]] = []
    for entry in batch.execute:
        if entry.delay is not None:
            delays.append((parse_duration(entry.delay), entry.delay))
            continue
        assert entry.test is not None
        item: dict[str, Any] = {"name": entry.test}
        request: dict[str, Any] = {}
        if entry.execution_request is not None:
            request = entry.execution_request.model_dump(
                by_alias=True, exclude_none=True, exclude_defaults=True
            )
        variables = {**suite_variables}
        if entry.execution_request is not None:
            variables.update(entry.execution_request.variables)
        if variables:
            request["variables"] = _variables_dump(variables)
        if request:
            item["executionRequest"] = request
        tests.append(item)
    if not tests and not delays:
        notes.append(f"{where}: empty batch skipped")
        return None
    step: dict[str, Any] = {"name": step_name, "x-assay-stop-on-failure": batch.stop_on_failure}
    if delays:
        step["delay"] = max(delays)[1]
    if tests:
        step["execute"] = {"parallelism": len(tests), "tests": tests}
    if batch.download_artifacts is not None:
        notes.append(f"{where}.downloadArtifacts is not supported and was ignored")
    return step


def suite_to_workflow(suite: LegacyTestSuite) -> TestWorkflow:
    """Convert a legacy ``TestSuite`` to a ``TestWorkflow`` of ``execute`` steps."""
    spec = suite.spec
    name = suite.metadata.name
    req = spec.execution_request or SuiteExecutionRequest()
    notes: list[str] = []
    workflow_spec: dict[str, Any] = {}

    def batches(items: list[SuiteBatch], prefix: str, field: str) -> list[dict[str, Any]]:
        out = []
        for i, batch in enumerate(items):
            step = _batch_step(
                f"{prefix}-{i + 1}", batch, req.variables, f"spec.{field}[{i}]", notes
            )
            if step is not None:
                out.append(step)
        return out

    setup = batches(spec.before, "before", "before")
    steps = batches(spec.steps, "batch", "steps")
    after = batches(spec.after, "after", "after")
    for step in after:
        step["condition"] = "always"
    if setup:
        workflow_spec["setup"] = setup
    workflow_spec["steps"] = steps
    if after:
        workflow_spec["after"] = after
    deadline = _seconds(req.timeout)
    if deadline:
        workflow_spec["job"] = {"activeDeadlineSeconds": deadline}
    if spec.schedule:
        workflow_spec["events"] = [{"cronjob": {"cron": spec.schedule}}]
    if spec.repeats and spec.repeats > 1:
        notes.append("spec.repeats is not supported and was ignored")
    _note_unsupported(
        req,
        (
            "jobTemplate",
            "jobTemplateReference",
            "cronJobTemplate",
            "cronJobTemplateReference",
            "scraperTemplate",
            "scraperTemplateReference",
            "pvcTemplate",
            "pvcTemplateReference",
        ),
        "executionRequest",
        notes,
    )
    data = {
        "apiVersion": WORKFLOW_API_VERSION,
        "kind": "TestWorkflow",
        "metadata": _metadata(suite.metadata, spec.description, "TestSuite", notes),
        "spec": workflow_spec,
    }
    return _validated(data, f"TestSuite {name!r}")
