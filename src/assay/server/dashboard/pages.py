"""The dashboard's pages: executions, one execution, workflows, tests, trends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from assay.errors import DefinitionError, NotFoundError
from assay.server.dashboard import views
from assay.server.dashboard.auth import Viewer
from assay.status import ExecutionStatus

if TYPE_CHECKING:
    from assay.server.dashboard.routes import Dashboard

__all__ = ["add_pages"]

PAGE_SIZE = 50
TREND_DAYS = (7, 30, 90)


def _params(request: Request) -> dict[str, str]:
    return {key: value for key, value in request.query_params.items() if value}


def add_pages(
    router: APIRouter, board: Dashboard, page_viewer: Any, api_viewer: Any, form: Any
) -> None:
    """Register the pages on ``router``."""
    assay = board.assay

    def execution_page(request: Request) -> tuple[dict[str, str], Any]:
        from assay.store.listing import Cursor

        params = _params(request)
        where = views.execution_filter(params)
        before = Cursor.decode(params["before"]) if "before" in params else None
        after = Cursor.decode(params["after"]) if "after" in params else None
        return params, assay.execution_page(where, before=before, after=after, limit=PAGE_SIZE)

    @router.get("/executions")
    @board.errors_as_pages
    def executions(request: Request, viewer: Viewer = page_viewer) -> Response:
        params, page = execution_page(request)
        filters = {k: v for k, v in params.items() if k not in ("before", "after")}
        return board.render(
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

    @router.get("/ui/executions")
    def executions_json(request: Request, viewer: Viewer = api_viewer) -> Response:
        try:
            _, page = execution_page(request)
        except DefinitionError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({"rows": [views.execution_summary(row) for row in page.rows]})

    @router.get("/executions/{ref}")
    @board.errors_as_pages
    def execution(request: Request, ref: str, viewer: Viewer = page_viewer) -> Response:
        from assay.reports.data import load_tests

        row = assay.executions.get(ref)
        finished = ExecutionStatus(row.status).finished
        tests = views.failed_first(load_tests(assay.executions, row))
        log_text = ""
        if finished:
            path = assay.log_path(row)
            log_text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        return board.render(
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

    @router.get("/ui/executions/{ref}")
    def execution_json(ref: str, viewer: Viewer = api_viewer) -> Response:
        try:
            row = assay.executions.get(ref)
        except NotFoundError as exc:
            return JSONResponse({"error": str(exc)}, 404)
        return JSONResponse(assay.execution_json(row) | {"finished": views.finished(row)})

    @router.get("/ui/executions/{ref}/log")
    def execution_log(ref: str, offset: int = 0, viewer: Viewer = api_viewer) -> Response:
        try:
            row = assay.executions.get(ref)
            finished = views.finished(row)  # read first: the log is complete once it is
            text, next_offset = views.read_log_chunk(assay.log_path(row), offset)
        except (NotFoundError, DefinitionError) as exc:
            return JSONResponse({"error": str(exc)}, 404 if isinstance(exc, NotFoundError) else 400)
        return JSONResponse({"text": text, "offset": next_offset, "finished": finished})

    @router.get("/executions/{ref}/artifacts/{name:path}")
    @board.errors_as_pages
    def artifact(request: Request, ref: str, name: str, viewer: Viewer = page_viewer) -> Response:
        row = assay.executions.get(ref)
        stored = {relative: size for relative, size in views.artifact_names(assay, row)}
        if name not in stored:
            raise NotFoundError(f"execution {row.name} has no artifact {name!r}")
        path = assay.settings.executions_dir / row.id / "artifacts" / name
        return FileResponse(path, filename=path.name, media_type="application/octet-stream")

    @router.post("/executions/{ref}/abort")
    @board.errors_as_pages
    def abort(
        request: Request, ref: str, viewer: Viewer = page_viewer, fields: dict[str, str] = form
    ) -> Response:
        board.acting(viewer, fields, "run")
        row = assay.executions.get(ref)
        board.require_actions().abort(row.id)
        return RedirectResponse(f"/executions/{row.id}", 303)

    @router.post("/executions/{ref}/rerun")
    @board.errors_as_pages
    def rerun(
        request: Request, ref: str, viewer: Viewer = page_viewer, fields: dict[str, str] = form
    ) -> Response:
        board.acting(viewer, fields, "run")
        row = assay.executions.get(ref)
        new_id = board.require_actions().rerun(row.id)
        return RedirectResponse(f"/executions/{new_id}", 303)

    @router.get("/workflows")
    @board.errors_as_pages
    def workflows(request: Request, viewer: Viewer = page_viewer) -> Response:
        from assay.engine.resolve import RUNNABLE_KINDS

        rows = [row for row in assay.definitions.all() if row.kind in RUNNABLE_KINDS]
        latest = {
            name: assay.execution_page(views.execution_filter({"workflow": name}), limit=1).rows
            for name in sorted({row.name for row in rows})
        }
        return board.render(
            request,
            viewer,
            "workflows.html",
            items=[
                (row, views.execution_summary(latest[row.name][0]) if latest[row.name] else None)
                for row in rows
            ],
        )

    def workflow_context(name: str) -> dict[str, Any]:
        from assay.analytics.trends import trend_points
        from assay.engine.resolve import RUNNABLE_KINDS, Catalog

        kind, _, raw = assay.definitions.get(name, RUNNABLE_KINDS)
        workflow = Catalog(store=assay.definitions).workflow(name)
        points = trend_points(assay.db, workflow=name, days=30)
        recent = assay.execution_page(views.execution_filter({"workflow": name}), limit=20)
        return {
            "name": name,
            "kind": kind,
            "definition": yaml.safe_dump(raw, sort_keys=False, allow_unicode=True),
            "fields": views.config_fields(workflow.spec.config),
            "schedules": views.schedules(raw),
            "rows": [views.execution_summary(row) for row in recent.rows],
            "charts": views.workflow_charts(points),
            "points": points,
        }

    @router.get("/workflows/{name}")
    @board.errors_as_pages
    def workflow(request: Request, name: str, viewer: Viewer = page_viewer) -> Response:
        return board.render(
            request, viewer, "workflow.html", error=None, given={}, **workflow_context(name)
        )

    @router.post("/workflows/{name}/run")
    @board.errors_as_pages
    def run(
        request: Request, name: str, viewer: Viewer = page_viewer, fields: dict[str, str] = form
    ) -> Response:
        board.acting(viewer, fields, "run")
        actions = board.require_actions()
        context = workflow_context(name)
        config = views.config_values(context["fields"], fields)
        try:
            execution_id = actions.run(name, config)
        except DefinitionError as exc:
            given = {k.removeprefix("config."): v for k, v in fields.items()}
            return board.render(
                request, viewer, "workflow.html", 400, error=str(exc), given=given, **context
            )
        return RedirectResponse(f"/executions/{execution_id}", 303)

    @router.get("/tests")
    @board.errors_as_pages
    def tests(request: Request, viewer: Viewer = page_viewer) -> Response:
        from assay.analytics.flaky import find_flaky
        from assay.analytics.traceability import trace
        from assay.analytics.trends import slowest_tests
        from assay.store.quarantine import QuarantineStore

        workflow = request.query_params.get("workflow") or None
        quarantined = QuarantineStore(assay.db).list(include_expired=True)
        return board.render(
            request,
            viewer,
            "tests.html",
            workflow=workflow,
            flaky=find_flaky(assay.db, workflow=workflow),
            quarantined=quarantined,
            quarantined_ids={entry.test_id for entry in quarantined if entry.active()},
            slowest=slowest_tests(assay.db, workflow=workflow, top=15),
            requirements=trace(assay.db, workflow=workflow),
            can_quarantine=viewer.allows(views.QUARANTINE_SCOPE),
            message=request.query_params.get("done"),
        )

    @router.post("/tests/quarantine")
    @board.errors_as_pages
    def quarantine_add(
        request: Request, viewer: Viewer = page_viewer, fields: dict[str, str] = form
    ) -> Response:
        from assay.store.quarantine import QuarantineStore

        board.acting(viewer, fields, views.QUARANTINE_SCOPE)
        test_id = fields.get("test_id", "")
        entry = QuarantineStore(assay.db).add(
            test_id,
            reason=fields.get("reason", "").strip() or None,
            until=views.parse_expiry(fields.get("until", "")),
        )
        done = f"quarantined {entry.classname}::{entry.name}"
        return RedirectResponse("/tests?" + _query({"done": done}), 303)

    @router.post("/tests/quarantine/remove")
    @board.errors_as_pages
    def quarantine_remove(
        request: Request, viewer: Viewer = page_viewer, fields: dict[str, str] = form
    ) -> Response:
        from assay.store.quarantine import QuarantineStore

        board.acting(viewer, fields, views.QUARANTINE_SCOPE)
        QuarantineStore(assay.db).remove(fields.get("test_id", ""))
        return RedirectResponse("/tests?" + _query({"done": "quarantine removed"}), 303)

    @router.get("/trends")
    @board.errors_as_pages
    def trends(request: Request, viewer: Viewer = page_viewer) -> Response:
        from assay.analytics.trends import trend_points

        params = _params(request)
        try:
            days = int(params.get("days", "30"))
        except ValueError:
            raise DefinitionError(f"days {params['days']!r}: not a number") from None
        if days not in TREND_DAYS:
            raise DefinitionError(f"days {days}: one of {', '.join(map(str, TREND_DAYS))}")
        points = trend_points(
            assay.db,
            workflow=params.get("workflow"),
            branch=params.get("branch"),
            days=days,
        )
        return board.render(
            request,
            viewer,
            "trends.html",
            filters=params,
            days=days,
            day_choices=TREND_DAYS,
            points=points,
            charts=views.trend_charts(points),
        )


def _query(params: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode({k: v for k, v in params.items() if v})
