"""Decisions from the history, as the CLI's ``-o json`` gives them: ``/v1/analytics/flaky``,
``/trends``, ``/trace``; ``/v1/reports``; ``/v1/quarantine``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from assay.app import parse_until
from assay.server.deps import Admin, App, Reader
from assay.server.errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)

Workflow = Annotated[str | None, Query(description="Only this workflow")]
Window = Annotated[int, Query(ge=1, le=10_000, description="Last N executions per workflow")]


@router.get("/analytics/flaky", tags=["analytics"], summary="Flaky tests with evidence")
def flaky(
    assay: App,
    _caller: Reader,
    workflow: Workflow = None,
    window: Window = 20,
    flip_threshold: Annotated[float, Query(alias="flipThreshold", ge=0, le=1)] = 0.3,
    failure_threshold: Annotated[float, Query(alias="failureThreshold", ge=0, le=1)] = 0.2,
    min_results: Annotated[int, Query(alias="minResults", ge=1, le=10_000)] = 5,
    all_tests: Annotated[bool, Query(alias="all", description="Every test, not only flaky")] = (
        False
    ),
) -> list[dict[str, Any]]:
    from assay.analytics.flaky import Thresholds

    thresholds = Thresholds(window, flip_threshold, failure_threshold, min_results)
    return assay.flaky(workflow=workflow, thresholds=thresholds, include_all=all_tests)


@router.get("/analytics/trends", tags=["analytics"], summary="Trends, slowest, newly failing")
def trends(
    assay: App,
    _caller: Reader,
    workflow: Workflow = None,
    days: Annotated[int, Query(ge=1, le=3660)] = 30,
    bucket: Literal["day", "week"] = "day",
    window: Window = 20,
    top: Annotated[int, Query(ge=1, le=1000)] = 10,
    base: Annotated[str, Query(min_length=1, max_length=255)] = "main",
    execution: Annotated[str | None, Query(description="Compare this execution")] = None,
) -> dict[str, Any]:
    return assay.trends(
        workflow=workflow,
        days=days,
        bucket=bucket,
        window=window,
        top=top,
        base=base,
        execution=execution,
    )


@router.get("/analytics/trace", tags=["analytics"], summary="Requirements -> tests -> status")
def trace(
    assay: App,
    _caller: Reader,
    workflow: Workflow = None,
    window: Window = 20,
    requirement: Annotated[list[str] | None, Query(description="Requirements to check")] = None,
    require_all: Annotated[bool, Query(alias="requireAll")] = False,
) -> dict[str, Any]:
    listed = [p.strip() for value in requirement or [] for p in value.split(",") if p.strip()]
    return assay.trace(
        workflow=workflow, window=window, requirements=listed, require_all=require_all
    )


@router.get(
    "/reports",
    tags=["reports"],
    summary="A report of executions (Markdown, HTML, merged JUnit, or its data as JSON)",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/markdown": {},
                "text/html": {},
                "application/xml": {},
                "application/json": {"schema": {"type": "object"}},
            }
        }
    },
)
def report(
    assay: App,
    _caller: Reader,
    execution: Annotated[list[str], Query(min_length=1, description="Ids, prefixes or names")],
    format: Literal["markdown", "html", "junit", "data"] = "markdown",
    base: Annotated[str, Query(min_length=1, max_length=255)] = "main",
    history: Annotated[
        int, Query(ge=0, le=1000, description="format=data: past executions per workflow")
    ] = 0,
) -> Response:
    """``format=data`` answers what the report is made of as JSON (executions, tests with
    every attempt, counts, bases): the remote ``assay report`` judges gates and publishes
    to GitHub from it, where the checkout is."""
    if format == "data":
        from assay.reports.model import report_to_json

        data = assay.report_data(execution, base=base, history=history)
        return JSONResponse(report_to_json(data))
    from assay.reports.render import MEDIA_TYPES

    body = assay.report(execution, format=format, base=base)
    return Response(body, media_type=MEDIA_TYPES[format])


class QuarantineRequest(BaseModel):
    """Tests to quarantine (ids as ``assay get testcases`` and ``flaky`` show them)."""

    model_config = ConfigDict(extra="forbid")

    test_ids: list[str] = Field(alias="testIds", min_length=1, max_length=1000)
    reason: str | None = Field(default=None, max_length=2000)
    until: str | None = Field(
        default=None, description="YYYY-MM-DD (through that day, UTC), ISO date-time, or 7d"
    )


@router.get("/quarantine", tags=["quarantine"], summary="Quarantined tests")
def list_quarantine(
    assay: App,
    _caller: Reader,
    all_entries: Annotated[bool, Query(alias="all", description="Expired ones too")] = False,
) -> list[dict[str, Any]]:
    return [entry.as_dict() for entry in assay.quarantine.list(include_expired=all_entries)]


@router.post("/quarantine", tags=["quarantine"], summary="Quarantine tests")
def add_quarantine(body: QuarantineRequest, assay: App, _caller: Admin) -> list[dict[str, Any]]:
    until = parse_until(body.until, option="until") if body.until else None
    store = assay.quarantine
    return [store.add(test, reason=body.reason, until=until).as_dict() for test in body.test_ids]


@router.delete(
    "/quarantine/{test_id}", tags=["quarantine"], status_code=204, summary="End a quarantine"
)
def remove_quarantine(test_id: str, assay: App, _caller: Admin) -> None:
    assay.quarantine.remove(test_id)
