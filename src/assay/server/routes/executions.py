"""``/v1/test-workflow-executions``: list (paged, filtered), one execution, its logs,
artifacts and test cases."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic_core import to_json

from assay.app import testcase_json
from assay.errors import DefinitionError, NotFoundError
from assay.moments import maybe_utc
from assay.server.deps import App, Reader, Runner, Settings
from assay.server.errors import ERROR_RESPONSES
from assay.server.listcache import ListCache
from assay.status import ExecutionStatus

__all__ = ["PREFIX", "router"]

PREFIX = "/v1/test-workflow-executions"
router = APIRouter(prefix=PREFIX, tags=["test-workflow-executions"], responses=ERROR_RESPONSES)


def _statuses(value: str | None) -> tuple[str, ...]:
    wanted = tuple(part.strip() for part in (value or "").split(",") if part.strip())
    known = {status.value for status in ExecutionStatus}
    unknown = [status for status in wanted if status not in known]
    if unknown:
        raise DefinitionError(
            f"status: unknown {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    return wanted


def _tags(selector: str | None) -> tuple[tuple[str, str], ...]:
    pairs = []
    for part in (selector or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise DefinitionError(f"tagSelector: expected KEY=VALUE[,KEY=VALUE], got {part!r}")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


@router.get(
    "",
    summary="List executions, newest first",
    response_class=JSONResponse,
    responses={
        200: {"content": {"application/json": {"schema": {"type": "object"}}}},
        304: {"description": "Unchanged since the ETag given in If-None-Match"},
    },
)
def list_executions(
    request: Request,
    assay: App,
    settings: Settings,
    _caller: Reader,
    page: Annotated[int, Query(ge=0, le=1_000_000, description="0-based page")] = 0,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, description="Executions a page")] = 100,
    status: Annotated[str | None, Query(description="Statuses, comma-separated")] = None,
    workflow: Annotated[str | None, Query(description="Only this workflow")] = None,
    tag_selector: Annotated[
        str | None, Query(alias="tagSelector", description="KEY=VALUE[,KEY=VALUE]: every tag")
    ] = None,
    since: Annotated[datetime | None, Query(description="Queued at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="Queued before (ISO 8601)")] = None,
) -> Response:
    """``{"results": [...], "page", "pageSize", "hasMore"}``: no total is counted (a count
    over every execution costs more than the page at 100,000 rows). The answer is kept
    until anything is committed to the store; its ``ETag`` given back in ``If-None-Match``
    answers 304 while the list is unchanged."""
    from assay.store.executions import ExecutionQuery

    if page_size > settings.max_page_size:
        raise DefinitionError(f"pageSize: at most {settings.max_page_size}")
    query = ExecutionQuery(
        page=page,
        page_size=page_size,
        workflow=workflow or None,
        statuses=_statuses(status),
        tags=_tags(tag_selector),
        since=maybe_utc(since),
        until=maybe_utc(until),
    )

    def compute() -> bytes:
        results, more = assay.executions_page(query)
        body = {"results": results, "page": page, "pageSize": page_size, "hasMore": more}
        # JSON-ready rows, no response model; pydantic-core writes the bytes json.dumps
        # would (compact, UTF-8) in a quarter of the time
        return to_json(body)

    cache: ListCache = request.app.state.list_cache
    answer = cache.answer(query, compute)
    headers = {"ETag": answer.etag}
    if answer.matches(request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    return Response(answer.body, media_type="application/json", headers=headers)


@router.get("/{execution}", summary="One execution with its steps")
def get_execution(execution: str, assay: App, _caller: Reader) -> dict[str, Any]:
    """By id, unique id prefix or name (``workflow-N``)."""
    return assay.execution_json(assay.executions.get(execution))


@router.get(
    "/{execution}/logs",
    summary="The masked log so far",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def get_logs(execution: str, assay: App, _caller: Reader) -> Response:
    """The whole log as text; ``/notifications`` follows it live."""
    path = assay.log_path(assay.executions.get(execution))
    if not path.is_file():
        return Response(b"", media_type="text/plain; charset=utf-8")
    return FileResponse(path, media_type="text/plain; charset=utf-8")


@router.get("/{execution}/testcases", summary="Test-case attempts, in stored order")
def get_testcases(execution: str, assay: App, _caller: Reader) -> list[dict[str, Any]]:
    row = assay.executions.get(execution)
    return [testcase_json(case) for case in assay.executions.test_cases(row.id)]


def _artifacts(assay: App, execution: str) -> tuple[str, Path, list[Path]]:
    row = assay.executions.get(execution)
    base = assay.settings.executions_dir / row.id / "artifacts"
    return row.name, base, assay.artifacts(row)


@router.get("/{execution}/artifacts", summary="Stored artifacts")
def list_artifacts(execution: str, assay: App, _caller: Reader) -> list[dict[str, Any]]:
    name, base, files = _artifacts(assay, execution)
    return [
        {
            "name": path.relative_to(base).as_posix(),
            "size": path.stat().st_size,
            "executionName": name,
            "status": "ready",
        }
        for path in files
    ]


@router.get(
    "/{execution}/artifacts/{path:path}",
    summary="Download one artifact",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_artifact(execution: str, path: str, assay: App, _caller: Reader) -> FileResponse:
    """Only a stored artifact, by its listed name (nothing outside the execution's
    artifacts is reachable)."""
    _name, base, files = _artifacts(assay, execution)
    wanted = {file.relative_to(base).as_posix(): file for file in files}.get(path)
    if wanted is None:
        raise NotFoundError(f"execution {execution!r} has no artifact {path!r}")
    return FileResponse(wanted, media_type="application/octet-stream", filename=Path(path).name)


@router.post("/{execution}/abort", summary="Abort a queued or running execution")
def abort_execution(execution: str, assay: App, _caller: Runner) -> dict[str, Any]:
    """A queued execution is aborted at once, a running one by its worker within about a
    second; a finished one is answered as it is."""
    return assay.execution_json(assay.abort(execution))


@router.post("/{execution}/rerun", summary="Queue the same run again")
def rerun_execution(
    execution: str, request: Request, assay: App, _caller: Runner
) -> dict[str, Any]:
    """The new queued execution: same workflow (as queued then), config, tags, runner."""
    from assay.server.routes.runs import wake_workers

    row = assay.rerun(execution)
    wake_workers(request)
    return assay.execution_json(row)
