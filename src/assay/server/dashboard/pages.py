"""The dashboard's pages: executions, one execution, workflows, tests, trends. They are
kept live by the API's event streams (``routes/notifications.py``), which take the
dashboard's session cookie."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from assay.app import parse_until
from assay.errors import DefinitionError, NotFoundError
from assay.server.dashboard import views
from assay.server.dashboard.auth import Viewer, check_form
from assay.server.dashboard.routes import (
    Form,
    PageViewer,
    errors_as_pages,
    render,
    router,
)
from assay.server.deps import App
from assay.server.routes.runs import wake_workers
from assay.spec.yaml_text import dump_yaml
from assay.store.listing import Cursor, ExecutionPage
from assay.store.tokens import Scope

__all__ = ["router"]

PAGE_SIZE = 50
TREND_DAYS = (7, 30, 90)
"""The trends' windows: 30 days by default for one workflow, 7 over every workflow (a
month of every workflow reads tens of thousands of executions: bench/dashboard.py)."""


def _params(request: Request) -> dict[str, str]:
    return {key: value for key, value in request.query_params.items() if value}


def _query(params: dict[str, str]) -> str:
    return urlencode({k: v for k, v in params.items() if v})


def _page(assay: App, params: dict[str, str]) -> ExecutionPage:
    where = views.execution_filter(params)
    before = Cursor.decode(params["before"]) if "before" in params else None
    after = Cursor.decode(params["after"]) if "after" in params else None
    return assay.execution_page(where, before=before, after=after, limit=PAGE_SIZE)


@router.get("/executions")
@errors_as_pages
def executions(request: Request, assay: App, viewer: Viewer = PageViewer) -> Response:
    params = _params(request)
    page = _page(assay, params)
    filters = {k: v for k, v in params.items() if k not in ("before", "after")}
    return render(
        request,
        viewer,
        "executions.html",
        rows=[views.execution_summary(row) for row in page.rows],
        filters=filters,
        older=page.older.encode() if page.older else None,
        newer=page.newer.encode() if page.newer else None,
        live="before" not in params and "after" not in params,
        query=lambda **extra: _query({**filters, **extra}),
        workflows=sorted({row.name for row in assay.definitions.all()}),
    )


@router.get("/executions/{ref}")
@errors_as_pages
def execution(request: Request, ref: str, assay: App, viewer: Viewer = PageViewer) -> Response:
    from assay.reports.data import load_tests

    row = assay.executions.get(ref)
    finished = views.finished(row)
    tests = views.failed_first(load_tests(assay.executions, row))
    log_text = ""
    if finished:
        path = assay.log_path(row)
        log_text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return render(
        request,
        viewer,
        "execution.html",
        row=row,
        summary=views.execution_summary(row),
        steps=assay.executions.steps(row.id),
        children=assay.executions.children(row.id),
        tests=tests,
        failing=sum(t.failing for t in tests),
        finished=finished,
        sections=views.log_sections(log_text),
        artifacts=views.artifact_names(assay, row),
        trigger=views.trigger_of(row),
    )


@router.get("/executions/{ref}/artifacts/{name:path}")
@errors_as_pages
def artifact(
    request: Request, ref: str, name: str, assay: App, viewer: Viewer = PageViewer
) -> Response:
    row = assay.executions.get(ref)
    if name not in dict(views.artifact_names(assay, row)):
        raise NotFoundError(f"execution {row.name} has no artifact {name!r}")
    path = assay.settings.executions_dir / row.id / "artifacts" / name
    return FileResponse(path, filename=path.name, media_type="application/octet-stream")


@router.post("/executions/{ref}/{action}")
@errors_as_pages
def execution_action(
    request: Request,
    ref: str,
    action: str,
    assay: App,
    viewer: Viewer = PageViewer,
    fields: dict[str, str] = Form,
) -> Response:
    """Abort or Re-run: as ``POST /v1/test-workflow-executions/{id}/abort`` (``/rerun``),
    with the same scope; either way the browser goes to the execution it leaves running."""
    if action not in ("abort", "rerun"):
        raise NotFoundError(f"no action {action!r} on an execution: abort or rerun")
    check_form(viewer, fields, Scope.RUN)
    if action == "abort":
        row = assay.abort(ref)
    else:
        row = assay.rerun(ref)
        wake_workers(request)
    return RedirectResponse(f"/executions/{row.id}", 303)


@router.get("/workflows")
@errors_as_pages
def workflows(request: Request, assay: App, viewer: Viewer = PageViewer) -> Response:
    from assay.engine.resolve import RUNNABLE_KINDS

    rows = [row for row in assay.definitions.all() if row.kind in RUNNABLE_KINDS]
    latest = {
        name: assay.execution_page(views.execution_filter({"workflow": name}), limit=1).rows
        for name in {row.name for row in rows}
    }
    items = [
        (row, views.execution_summary(latest[row.name][0]) if latest[row.name] else None)
        for row in rows
    ]
    return render(request, viewer, "workflows.html", items=items)


def _workflow_context(assay: App, name: str) -> dict[str, Any]:
    from assay.analytics.trends import trend_points
    from assay.engine.resolve import RUNNABLE_KINDS, Catalog

    kind, _, raw = assay.definitions.get(name, RUNNABLE_KINDS)
    workflow = Catalog(store=assay.definitions).workflow(name)
    points = trend_points(assay.db, workflow=name, days=30)
    recent = assay.execution_page(views.execution_filter({"workflow": name}), limit=20)
    return {
        "name": name,
        "kind": kind,
        "definition": dump_yaml(raw),
        "fields": views.config_fields(workflow.spec.config),
        "schedules": views.schedules(raw),
        "rows": [views.execution_summary(row) for row in recent.rows],
        "charts": views.workflow_charts(points),
    }


@router.get("/workflows/{name}")
@errors_as_pages
def workflow(request: Request, name: str, assay: App, viewer: Viewer = PageViewer) -> Response:
    context = _workflow_context(assay, name)
    return render(request, viewer, "workflow.html", error=None, given={}, **context)


@router.post("/workflows/{name}/run")
@errors_as_pages
def run(
    request: Request,
    name: str,
    assay: App,
    viewer: Viewer = PageViewer,
    fields: dict[str, str] = Form,
) -> Response:
    check_form(viewer, fields, Scope.RUN)
    context = _workflow_context(assay, name)
    config = views.config_values(context["fields"], fields)
    try:  # as POST /v1/test-workflows/{name}/executions
        row = assay.enqueue(name, config=config, tags={})
    except DefinitionError as exc:
        given = {k.removeprefix("config."): v for k, v in fields.items()}
        return render(request, viewer, "workflow.html", 400, error=str(exc), given=given, **context)
    wake_workers(request)
    return RedirectResponse(f"/executions/{row.id}", 303)


@router.get("/tests")
@errors_as_pages
def tests(request: Request, assay: App, viewer: Viewer = PageViewer) -> Response:
    from assay.analytics.flaky import find_flaky
    from assay.analytics.history import Window
    from assay.analytics.traceability import trace
    from assay.analytics.trends import slowest_tests

    workflow = request.query_params.get("workflow") or None
    quarantined = assay.quarantine.list(include_expired=True)
    recent = Window.load(assay.db, workflow=workflow)  # one window for the three questions
    return render(
        request,
        viewer,
        "tests.html",
        workflow=workflow,
        flaky=find_flaky(assay.db, workflow=workflow, recent=recent),
        quarantined=quarantined,
        quarantined_ids={entry.test_id for entry in quarantined if entry.active()},
        slowest=slowest_tests(assay.db, workflow=workflow, top=15, recent=recent),
        requirements=trace(assay.db, workflow=workflow, recent=recent),
        can_quarantine=viewer.allows(Scope.ADMIN),
        message=request.query_params.get("done"),
    )


@router.post("/tests/quarantine")
@errors_as_pages
def quarantine_add(
    request: Request, assay: App, viewer: Viewer = PageViewer, fields: dict[str, str] = Form
) -> Response:
    check_form(viewer, fields, Scope.ADMIN)  # as POST /v1/quarantine
    until = fields.get("until", "").strip()
    entry = assay.quarantine.add(
        fields.get("test_id", ""),
        reason=fields.get("reason", "").strip() or None,
        until=parse_until(until, option="until") if until else None,
    )
    done = f"quarantined {entry.classname}::{entry.name}"
    return RedirectResponse("/tests?" + _query({"done": done}), 303)


@router.post("/tests/quarantine/remove")
@errors_as_pages
def quarantine_remove(
    request: Request, assay: App, viewer: Viewer = PageViewer, fields: dict[str, str] = Form
) -> Response:
    check_form(viewer, fields, Scope.ADMIN)  # as DELETE /v1/quarantine/{test_id}
    assay.quarantine.remove(fields.get("test_id", ""))
    return RedirectResponse("/tests?" + _query({"done": "quarantine removed"}), 303)


@router.get("/trends")
@errors_as_pages
def trends(request: Request, assay: App, viewer: Viewer = PageViewer) -> Response:
    from assay.analytics.trends import trend_points

    params = _params(request)
    default = TREND_DAYS[1] if params.get("workflow") else TREND_DAYS[0]
    try:
        days = int(params.get("days", default))
    except ValueError:
        raise DefinitionError(f"days {params['days']!r}: not a number") from None
    if days not in TREND_DAYS:
        raise DefinitionError(f"days {days}: one of {', '.join(map(str, TREND_DAYS))}")
    points = trend_points(
        assay.db, workflow=params.get("workflow"), branch=params.get("branch"), days=days
    )
    return render(
        request,
        viewer,
        "trends.html",
        filters=params,
        days=days,
        default_days=default,
        day_choices=TREND_DAYS,
        points=points,
        charts=views.trend_charts(points),
    )
