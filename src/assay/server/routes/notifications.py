"""``GET /v1/test-workflow-executions/{id}/notifications``: the live log and the end of an
execution as Server-Sent Events (see :mod:`assay.server.logstream`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from assay.errors import DefinitionError
from assay.server.deps import App, Reader, Settings
from assay.server.errors import ERROR_RESPONSES
from assay.server.logstream import log_events
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
    _caller: Reader,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="Resume after this event (a byte offset)"),
    ] = None,
) -> EventSourceResponse:
    """``log`` events (``{"ts", "log"}``, id = byte offset past the line), then one
    ``result`` event (``{"ts", "result": execution}``); ``: ping`` comments meanwhile."""
    offset = _offset(last_event_id)
    row = await run_in_threadpool(assay.executions.get, execution)  # 404 before streaming
    events = log_events(
        assay,
        row.id,
        offset=offset,
        poll_seconds=settings.log_poll_seconds,
        status_seconds=settings.status_poll_seconds,
    )
    return EventSourceResponse(events, ping=settings.heartbeat_seconds)
