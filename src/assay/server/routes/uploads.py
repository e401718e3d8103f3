"""``POST /v1/uploads``: the checkout of ``assay run --source DIR`` against a server.

The CLI packs DIR as a ``.tar.gz`` (:mod:`assay.client.source`) and uploads it here; the
answer's ``id`` goes into the run request as ``sourceUpload``, and the executions route
hands the file to ``Assay.enqueue(source_archive=...)`` (:func:`claim`), which checks it
and keeps its own copy for the worker, which unpacks it at ``/data/repo``. An upload is
kept under ``ASSAY_HOME/uploads`` (mode 0600) until a run claims it; unclaimed ones are
removed after :data:`UNCLAIMED_SECONDS`. The body may not exceed the source limit
(``ASSAY_SOURCE_LIMIT`` of the server, 100 MB by default) plus what gzip may add: 413.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from assay.client.source import source_limit
from assay.errors import DefinitionError, InfrastructureError, NotFoundError
from assay.server.deps import App, Runner
from assay.server.errors import ERROR_RESPONSES, error_response

__all__ = ["UNCLAIMED_SECONDS", "claim", "router"]

UNCLAIMED_SECONDS = 3600.0
"""An upload no run named is removed after this long."""
_ID = re.compile(r"[0-9a-f]{32}")
_MEDIA = ("application/gzip", "application/x-gzip", "application/octet-stream")

router = APIRouter(prefix="/v1", tags=["uploads"], responses=ERROR_RESPONSES)


def _directory(home: Path) -> Path:
    return home / "uploads"


def claim(home: Path, upload_id: str) -> Path:
    """The file of an upload (``sourceUpload``); NotFoundError (404) for an unknown id.
    The caller removes it once the run request holds its own copy."""
    if not _ID.fullmatch(upload_id):
        raise DefinitionError(f"sourceUpload: {upload_id!r} is not an upload id")
    path = _directory(home) / f"{upload_id}.tar.gz"
    if not path.is_file():
        raise NotFoundError(f"sourceUpload: no upload {upload_id} (expired, or used by a run)")
    return path


@router.post(
    "/uploads",
    status_code=201,
    summary="Upload a checkout (.tar.gz) for a run's /data/repo",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {  # application/gzip too; listed as what OpenAPI tools can send
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
    responses={413: {"description": "Larger than the source limit"}},
)
async def upload(request: Request, assay: App, _caller: Runner) -> Any:
    """``{"id", "size"}``: name ``id`` as ``sourceUpload`` in a run request."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _MEDIA:
        raise DefinitionError(
            f"body: expected a .tar.gz as application/gzip or application/octet-stream, "
            f"got {media!r}"
        )
    limit = source_limit(os.environ)
    allowed = limit + limit // 100 + (1 << 16)  # gzip of incompressible files grows a little
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > allowed:
        return _too_large(limit)
    directory = _directory(assay.settings.home)
    upload_id = uuid.uuid4().hex
    path = directory / f"{upload_id}.tar.gz"
    await run_in_threadpool(_prepare, directory)
    size = 0
    try:
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > allowed:
                    out.close()
                    path.unlink(missing_ok=True)
                    return _too_large(limit)
                await run_in_threadpool(out.write, chunk)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise InfrastructureError(f"cannot keep the upload in {directory}: {exc}") from exc
    return {"id": upload_id, "size": size}


def _too_large(limit: int) -> Any:
    return error_response(
        413, f"body: the source upload exceeds the server's limit of {limit} bytes"
    )


def _prepare(directory: Path) -> None:
    """Create the directory (0700) and remove unclaimed uploads past their time."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    expired = time.time() - UNCLAIMED_SECONDS
    for stale in directory.glob("*.tar.gz"):
        try:
            if stale.stat().st_mtime < expired:
                stale.unlink()
        except OSError:
            continue
