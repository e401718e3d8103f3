"""``/health`` (the process answers) and ``/ready`` (the store answers); no token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from assay.server.deps import App

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: the store answers a query",
    responses={503: {"description": "The store does not answer"}},
)
def ready(assay: App) -> Any:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with assay.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return JSONResponse({"error": f"store: {exc.__class__.__name__}"}, status_code=503)
    return {"status": "ready"}
