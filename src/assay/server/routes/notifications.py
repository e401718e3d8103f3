"""Server-Sent Events (see :mod:`assay.server.logstream`):
``GET /v1/test-workflow-executions/{id}/notifications``, the live log, steps and end of an
execution; ``GET /v1/test-workflow-executions/notifications``, a filtered list of
executions as it changes. Both take a bearer token or the dashboard's session cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from assay.errors import DefinitionError
from assay.server.deps import App, Settings, StreamReader
from assay.server.errors import ERROR_RESPONSES
from assay.server.filters import execution_filter
from assay.server.logstream import list_events, log_events
from assay.server.routes.executions import PREFIX

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, tags=["test-workflow-executions"], responses=ERROR_RESPONSES)


def _offset(last_event_id: str | None) -> int:
    if not last_event_id:
        return 0
    text = last_event_id.strip()
    if not (text.isascii() and text.isdigit()):
        raise DefinitionError(f"Last-Event-ID: expected a byte offset, got {last_event_id!r}")
    return int(text)


@router.get(
    "/{execution}/notifications",
    summary="Follow the log and the end of an execution (Server-Sent Events)",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def notifications(
    execution: str,
    assay: App,
    settings: Settings,
    _caller: StreamReader,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="Resume after this event (a byte offset)"),
    ] = None,
    progress: Annotated[
        bool, Query(description="Also `execution` events: status and steps as they change")
    ] = False,
) -> EventSourceResponse:
    """``log`` events (``{"ts", "log"}``, id = byte offset past the line), then one
    ``result`` event (``{"ts", "result": execution}``); ``: ping`` comments meanwhile.
    With ``progress``, ``execution`` events (``{"ts", "execution"}``, with its steps, a
    running step ``running``) whenever the status or a step changes."""
    offset = _offset(last_event_id)
    row = await run_in_threadpool(assay.executions.get, execution)  # 404 before streaming
    events = log_events(
        assay,
        row.id,
        offset=offset,
        poll_seconds=settings.log_poll_seconds,
        status_seconds=settings.status_poll_seconds,
        progress=progress,
    )
    return EventSourceResponse(events, ping=settings.heartbeat_seconds)


LIST_PARAMETERS = ("workflow", "status", "branch", "tag", "range", "q")


@router.get(
    "/notifications",
    summary="Follow a filtered list of executions (Server-Sent Events)",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def list_notifications(
    request: Request,
    assay: App,
    settings: Settings,
    _caller: StreamReader,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", description="The digest of the page held")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Executions in the page")] = 50,
) -> EventSourceResponse:
    """An ``executions`` event (``{"ts", "executions": [execution...]}``, newest first, id
    a digest of the page) at once and whenever the page changes: a new execution, a status,
    a summary. Filters as the dashboard's list: ``workflow``, ``status``, ``branch``,
    ``tag`` (``KEY=VALUE``), ``range`` (``1h``, ``24h``, ``7d``), ``q`` (a name or the
    start of an id)."""
    params = {key: request.query_params.get(key, "") for key in LIST_PARAMETERS}
    execution_filter(params)  # a bad filter is 400 before streaming
    events = list_events(
        assay,
        lambda: execution_filter(params),
        limit=limit,
        last_event_id=last_event_id,
        status_seconds=settings.status_poll_seconds,
    )
    return EventSourceResponse(events, ping=settings.heartbeat_seconds)
