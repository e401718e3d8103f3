"""An execution's log and end as Server-Sent Events.

Each line of the masked log (``ASSAY_HOME/executions/<id>/log.txt``) is one ``log`` event
whose id is the byte offset just past the line: a client that reconnects with
``Last-Event-ID: N`` gets the lines after offset N, exactly the ones it missed. When the
execution has ended and its log is read to the end, one ``result`` event carries the
execution (with the same id as the last line) and the stream closes. Heartbeats are
comment lines (``: ping``), sent by :class:`sse_starlette.EventSourceResponse`.

Asked for (``progress``), an ``execution`` event carries the execution with its steps
whenever its status or a step changes (steps are recorded as they start and end), with the
id of the log position at that moment.

:func:`list_events` follows a filtered list of executions: an ``executions`` event with
the newest page each time it changes, its id a digest of that page (a client resuming with
the digest it has gets nothing until the page changes again).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sse_starlette import ServerSentEvent
from starlette.concurrency import run_in_threadpool

from assay.app import Assay, execution_json
from assay.status import ExecutionStatus
from assay.store.listing import ExecutionFilter

__all__ = ["list_events", "log_events"]

_CHUNK = 1 << 16


def _event(kind: str, ident: int | str, payload: dict[str, Any]) -> ServerSentEvent:
    data = {"ts": datetime.now(UTC).isoformat(), **payload}
    return ServerSentEvent(json.dumps(data, ensure_ascii=False), event=kind, id=str(ident))


def _open(path: Path, offset: int) -> IO[bytes] | None:
    try:
        stream = path.open("rb")
    except FileNotFoundError:
        return None
    stream.seek(offset)
    return stream


async def log_events(
    assay: Assay,
    execution_id: str,
    *,
    offset: int = 0,
    poll_seconds: float = 0.02,
    status_seconds: float = 0.5,
    progress: bool = False,
) -> AsyncIterator[ServerSentEvent]:
    """Events of one execution from byte ``offset`` of its log until its end (with
    ``progress``, ``execution`` events too)."""
    row = await run_in_threadpool(assay.executions.get, execution_id)
    path = assay.log_path(row)
    stream: IO[bytes] | None = None
    pending = b""
    next_check = 0.0
    shown: dict[str, Any] | None = None
    try:
        while True:
            finished = False
            if time.monotonic() >= next_check:  # before reading: an end seen here is final
                row = await run_in_threadpool(assay.executions.get, execution_id)
                finished = ExecutionStatus(row.status).finished
                next_check = time.monotonic() + status_seconds
                if progress and not finished:
                    current = await run_in_threadpool(assay.execution_json, row)
                    if current != shown:
                        shown = current
                        yield _event("execution", offset, {"execution": current})
            if stream is None:
                stream = _open(path, offset)
            while stream is not None and (chunk := stream.read(_CHUNK)):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    offset += len(line) + 1
                    yield _event("log", offset, {"log": line.decode("utf-8", "replace")})
            if finished:
                if pending:
                    offset += len(pending)
                    yield _event("log", offset, {"log": pending.decode("utf-8", "replace")})
                result = await run_in_threadpool(assay.execution_json, row)
                yield _event("result", offset, {"result": result})
                return
            await asyncio.sleep(poll_seconds)
    finally:
        if stream is not None:
            stream.close()


async def list_events(
    assay: Assay,
    where: Callable[[], ExecutionFilter],
    *,
    limit: int = 50,
    last_event_id: str | None = None,
    status_seconds: float = 0.5,
) -> AsyncIterator[ServerSentEvent]:
    """The newest ``limit`` executions matching ``where()`` (asked again at each look, so
    a time range moves with the clock), as an ``executions`` event whenever they change;
    never ends by itself."""
    shown = last_event_id
    while True:
        page = await run_in_threadpool(assay.execution_page, where(), limit=limit)
        rows = [execution_json(row) for row in page.rows]
        text = json.dumps(rows, sort_keys=True, ensure_ascii=False)
        digest = hashlib.sha256(text.encode()).hexdigest()[:20]
        if digest != shown:
            shown = digest
            yield _event("executions", digest, {"executions": rows})
        await asyncio.sleep(status_seconds)
